-- The SQL functions skyport's ADQL translator calls on PostgreSQL with pgsphere (the
-- counterparts of the adql_* functions registered on SQLite). Angles are degrees at the ADQL
-- side and radians inside pgsphere. Every function is IMMUTABLE and PARALLEL SAFE, so
-- skyport_region(s_region) can carry a GiST expression index.
--
-- pgsphere has no accessor for a polygon's vertices: they are read from its text form, which
-- is radians with 15 significant digits unless set_sphere_output() is changed (skyport never
-- changes it).

-- A spoly from a flat array of lon, lat pairs in radians.
CREATE OR REPLACE FUNCTION skyport_spoly(v double precision[]) RETURNS spoly
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT ('{' || string_agg('(' || v[2 * i - 1]::text || ',' || v[2 * i]::text || ')', ',' ORDER BY i) || '}')::spoly
  FROM generate_series(1, array_length(v, 1) / 2) AS i
$$;

-- The vertices of a spoly as a flat array of lon, lat pairs in radians.
CREATE OR REPLACE FUNCTION skyport_vertices(p spoly) RETURNS double precision[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(x::double precision ORDER BY n)
  FROM regexp_split_to_table(regexp_replace(p::text, '[{}() ]', '', 'g'), ',') WITH ORDINALITY AS t(x, n)
$$;

-- Degrees of a DALI number list ("a b c …") as an array.
CREATE OR REPLACE FUNCTION skyport_numbers(t text) RETURNS double precision[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(x::double precision ORDER BY n)
  FROM regexp_split_to_table(btrim(t), '\s+') WITH ORDINALITY AS s(x, n)
  WHERE x <> ''
$$;

CREATE OR REPLACE FUNCTION skyport_cast_point(t text) RETURNS spoint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE v double precision[] := skyport_numbers(t);
BEGIN
  IF coalesce(array_length(v, 1), 0) <> 2 THEN
    RAISE EXCEPTION 'POINT: % is not two numbers', quote_literal(t);
  END IF;
  RETURN spoint(radians(v[1]), radians(v[2]));
END $$;

CREATE OR REPLACE FUNCTION skyport_cast_circle(t text) RETURNS scircle
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE v double precision[] := skyport_numbers(t);
BEGIN
  IF coalesce(array_length(v, 1), 0) <> 3 THEN
    RAISE EXCEPTION 'CIRCLE: % is not three numbers', quote_literal(t);
  END IF;
  RETURN scircle(spoint(radians(v[1]), radians(v[2])), radians(v[3]));
END $$;

-- A polygon from degrees (lon, lat, lon, lat, …).
CREATE OR REPLACE FUNCTION skyport_polygon_degrees(v double precision[]) RETURNS spoly
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
  IF coalesce(array_length(v, 1), 0) < 6 OR array_length(v, 1) % 2 <> 0 THEN
    RAISE EXCEPTION 'POLYGON: needs at least three longitude/latitude pairs';
  END IF;
  RETURN skyport_spoly(ARRAY(SELECT radians(x) FROM unnest(v) WITH ORDINALITY AS u(x, n) ORDER BY n));
END $$;

CREATE OR REPLACE FUNCTION skyport_cast_polygon(t text) RETURNS spoly
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT skyport_polygon_degrees(skyport_numbers(t))
$$;

CREATE OR REPLACE FUNCTION skyport_polygon_points(VARIADIC p spoint[]) RETURNS spoly
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT skyport_spoly(ARRAY(
    SELECT c FROM unnest(p) WITH ORDINALITY AS u(q, n), LATERAL (VALUES (1, long(q)), (2, lat(q))) AS w(k, c)
    ORDER BY n, k))
$$;

-- An ObsCore s_region (STC-S text) as a pgsphere polygon. Footprints are polygons; other
-- STC-S shapes are refused with an error rather than approximated. The words after POLYGON
-- (frame, reference position) are skipped; the numbers are handed to pgsphere's own parser in
-- its degree notation, {(lon d, lat d), …}, which is twice as fast as building the polygon
-- through arrays (it runs for every row written, for the GiST index, and for every candidate
-- row a footprint search rechecks). Its search_path is fixed: the function is in an index
-- expression, which logical replication's apply worker evaluates with an empty search_path.
CREATE OR REPLACE FUNCTION skyport_region(t text) RETURNS spoly
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path FROM CURRENT AS $$
DECLARE
  body text := regexp_replace(t, '^\s*polygon(\s+[a-z][a-z0-9_]*)*\s+', '', 'i');
BEGIN
  IF body = t THEN
    RAISE EXCEPTION 'region % is not a POLYGON: PostgreSQL regions are polygons', quote_literal(t);
  END IF;
  RETURN ('{' || rtrim(regexp_replace(body, '(\S+)\s+(\S+)\s*', '(\1d,\2d),', 'g'), ',') || '}')::spoly;
END $$;

-- ADQL BOX (the same construction as skyport-sky's Shape::box_shape: great-circle edges
-- perpendicular to the east and north arms at half the width and height).
CREATE OR REPLACE FUNCTION skyport_box(lon double precision, lat double precision,
                                       width double precision, height double precision)
RETURNS spoly LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  a double precision := radians(lon);
  d double precision := radians(lat);
  hw double precision := radians(width / 2);
  hh double precision := radians(height / 2);
  c double precision[] := ARRAY[cos(d) * cos(a), cos(d) * sin(a), sin(d)];
  e double precision[] := ARRAY[-sin(a), cos(a), 0];
  nn double precision[] := ARRAY[-sin(d) * cos(a), -sin(d) * sin(a), cos(d)];
  north double precision[];
  south double precision[];
  east double precision[];
  west double precision[];
  out double precision[] := '{}';
  x double precision[];
  len double precision;
  k int;
BEGIN
  IF width <= 0 OR width >= 180 OR height <= 0 OR height >= 180 THEN
    RAISE EXCEPTION 'BOX: width and height must be in (0, 180) degrees';
  END IF;
  -- Each edge's plane holds the point half a size out along one arm and the other arm.
  north := skyport_cross(ARRAY[c[1]*cos(hh) + nn[1]*sin(hh), c[2]*cos(hh) + nn[2]*sin(hh), c[3]*cos(hh) + nn[3]*sin(hh)], e);
  south := skyport_cross(ARRAY[c[1]*cos(hh) - nn[1]*sin(hh), c[2]*cos(hh) - nn[2]*sin(hh), c[3]*cos(hh) - nn[3]*sin(hh)], e);
  east := skyport_cross(ARRAY[c[1]*cos(hw) + e[1]*sin(hw), c[2]*cos(hw) + e[2]*sin(hw), c[3]*cos(hw) + e[3]*sin(hw)], nn);
  west := skyport_cross(ARRAY[c[1]*cos(hw) - e[1]*sin(hw), c[2]*cos(hw) - e[2]*sin(hw), c[3]*cos(hw) - e[3]*sin(hw)], nn);
  -- Corners NE, NW, SW, SE, each on the box's side of the sphere.
  FOR k IN 1..4 LOOP
    x := CASE k
      WHEN 1 THEN skyport_cross(north, east)
      WHEN 2 THEN skyport_cross(north, west)
      WHEN 3 THEN skyport_cross(south, west)
      ELSE skyport_cross(south, east) END;
    len := sqrt(x[1]^2 + x[2]^2 + x[3]^2);
    IF x[1]*c[1] + x[2]*c[2] + x[3]*c[3] < 0 THEN
      len := -len;
    END IF;
    out := out || ARRAY[atan2(x[2] / len, x[1] / len), asin(x[3] / len)];
  END LOOP;
  RETURN skyport_spoly(out);
END $$;

CREATE OR REPLACE FUNCTION skyport_cross(a double precision[], b double precision[])
RETURNS double precision[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT ARRAY[a[2]*b[3] - a[3]*b[2], a[3]*b[1] - a[1]*b[3], a[1]*b[2] - a[2]*b[1]]
$$;

CREATE OR REPLACE FUNCTION skyport_box_at(c spoint, width double precision, height double precision)
RETURNS spoly LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT skyport_box(degrees(long(c)), degrees(lat(c)), width, height)
$$;

-- DALI text (degrees) of a geometry.
CREATE OR REPLACE FUNCTION skyport_dali(p spoint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT degrees(long(p))::text || ' ' || degrees(lat(p))::text
$$;

CREATE OR REPLACE FUNCTION skyport_dali(c scircle) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT skyport_dali(center(c)) || ' ' || degrees(radius(c))::text
$$;

CREATE OR REPLACE FUNCTION skyport_dali(p spoly) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT string_agg(degrees(x)::text, ' ' ORDER BY n)
  FROM unnest(skyport_vertices(p)) WITH ORDINALITY AS u(x, n)
$$;

-- STC-S text of a geometry (as ObsCore s_region is written).
CREATE OR REPLACE FUNCTION skyport_stcs(p spoint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT 'POSITION ICRS ' || skyport_dali(p) $$;
CREATE OR REPLACE FUNCTION skyport_stcs(c scircle) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT 'CIRCLE ICRS ' || skyport_dali(c) $$;
CREATE OR REPLACE FUNCTION skyport_stcs(p spoly) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT 'POLYGON ICRS ' || skyport_dali(p) $$;

-- The triangle fan of a polygon from its vertex-mean centre c (as skyport-sky computes it):
-- {Σ eᵢ·mᵢ (3 numbers), Σ eᵢ, c (3 numbers)}, where eᵢ is the triangle's spherical excess
-- (Van Oosterom & Strackee, exact for small and thin triangles, which pgsphere's own area()
-- is not) and mᵢ its normalised vertex sum.
CREATE OR REPLACE FUNCTION skyport_fan(p spoly) RETURNS double precision[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  v double precision[] := skyport_vertices(p);
  n int := array_length(v, 1) / 2;
  xs double precision[] := '{}';
  ys double precision[] := '{}';
  zs double precision[] := '{}';
  c double precision[] := ARRAY[0, 0, 0];
  s double precision[] := ARRAY[0, 0, 0];
  total double precision := 0;
  len double precision;
  i int;
  j int;
  a double precision[];
  b double precision[];
  ab double precision[];
  num double precision;
  den double precision;
  e double precision;
  m double precision[];
BEGIN
  FOR i IN 1..n LOOP
    xs := xs || cos(v[2*i]) * cos(v[2*i - 1]);
    ys := ys || cos(v[2*i]) * sin(v[2*i - 1]);
    zs := zs || sin(v[2*i]);
    c := ARRAY[c[1] + xs[i], c[2] + ys[i], c[3] + zs[i]];
  END LOOP;
  len := sqrt(c[1]^2 + c[2]^2 + c[3]^2);
  c := ARRAY[c[1] / len, c[2] / len, c[3] / len];
  FOR i IN 1..n LOOP
    j := i % n + 1;
    a := ARRAY[xs[i], ys[i], zs[i]];
    b := ARRAY[xs[j], ys[j], zs[j]];
    ab := skyport_cross(a, b);
    num := c[1]*ab[1] + c[2]*ab[2] + c[3]*ab[3];
    den := 1 + (c[1]*a[1] + c[2]*a[2] + c[3]*a[3]) + (a[1]*b[1] + a[2]*b[2] + a[3]*b[3])
             + (b[1]*c[1] + b[2]*c[2] + b[3]*c[3]);
    e := 2 * atan2(num, den);
    m := ARRAY[c[1] + a[1] + b[1], c[2] + a[2] + b[2], c[3] + a[3] + b[3]];
    len := sqrt(m[1]^2 + m[2]^2 + m[3]^2);
    IF len > 0 THEN
      m := ARRAY[m[1] / len, m[2] / len, m[3] / len];
    ELSE
      m := c;
    END IF;
    s := ARRAY[s[1] + m[1] * e, s[2] + m[2] * e, s[3] + m[3] * e];
    total := total + e;
  END LOOP;
  RETURN s || total || c;
END $$;

-- ADQL AREA in square degrees.
CREATE OR REPLACE FUNCTION skyport_area(p spoint) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT 0::double precision $$;
CREATE OR REPLACE FUNCTION skyport_area(c scircle) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT 2 * pi() * (1 - cos(radius(c))) * (180 / pi())^2
$$;
CREATE OR REPLACE FUNCTION skyport_area(p spoly) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT abs((skyport_fan(p))[4]) * (180 / pi())^2
$$;

-- ADQL CENTROID: the point, the circle's centre, or the polygon's area-weighted centre.
CREATE OR REPLACE FUNCTION skyport_centroid(p spoint) RETURNS spoint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT p $$;
CREATE OR REPLACE FUNCTION skyport_centroid(c scircle) RETURNS spoint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT center(c) $$;
CREATE OR REPLACE FUNCTION skyport_centroid(p spoly) RETURNS spoint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  f double precision[] := skyport_fan(p);
  s double precision[] := f[1:3];
  len double precision;
BEGIN
  -- The excesses carry the orientation's sign: keep the centroid on the polygon's side.
  IF s[1]*f[5] + s[2]*f[6] + s[3]*f[7] < 0 THEN
    s := ARRAY[-s[1], -s[2], -s[3]];
  END IF;
  len := sqrt(s[1]^2 + s[2]^2 + s[3]^2);
  IF len = 0 THEN
    s := f[5:7];
    len := 1;
  END IF;
  RETURN spoint(atan2(s[2], s[1]), asin(s[3] / len));
END $$;
