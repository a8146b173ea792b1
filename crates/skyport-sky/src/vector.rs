//! Sky positions and unit vectors.

use crate::SkyError;

/// A position on the sky in degrees: `ra` (longitude) in [0, 360), `dec` (latitude) in [-90, 90].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkyPoint {
    /// Longitude (right ascension) in degrees, normalised to [0, 360).
    pub ra: f64,
    /// Latitude (declination) in degrees.
    pub dec: f64,
}

impl SkyPoint {
    /// Builds a point, normalising `ra` into [0, 360). Fails on non-finite values or |dec| > 90.
    pub fn new(ra: f64, dec: f64) -> Result<SkyPoint, SkyError> {
        if !ra.is_finite() || !dec.is_finite() {
            return Err(SkyError::InvalidCoordinate(format!(
                "({ra}, {dec}) is not finite"
            )));
        }
        if dec.abs() > 90.0 + 1e-9 {
            return Err(SkyError::InvalidCoordinate(format!(
                "declination {dec} is outside [-90, 90]"
            )));
        }
        Ok(SkyPoint {
            ra: normalize_ra(ra),
            dec: dec.clamp(-90.0, 90.0),
        })
    }

    /// The unit vectors pointing east and north at this position (the tangent plane's axes).
    pub fn east_north(self) -> (Vec3, Vec3) {
        let (ra, dec) = (self.ra.to_radians(), self.dec.to_radians());
        (
            Vec3 {
                x: -ra.sin(),
                y: ra.cos(),
                z: 0.0,
            },
            Vec3 {
                x: -dec.sin() * ra.cos(),
                y: -dec.sin() * ra.sin(),
                z: dec.cos(),
            },
        )
    }

    /// The unit vector pointing at this position.
    pub fn to_vec3(self) -> Vec3 {
        let (ra, dec) = (self.ra.to_radians(), self.dec.to_radians());
        Vec3 {
            x: dec.cos() * ra.cos(),
            y: dec.cos() * ra.sin(),
            z: dec.sin(),
        }
    }
}

/// Wraps a longitude into [0, 360).
pub fn normalize_ra(ra: f64) -> f64 {
    let r = ra.rem_euclid(360.0);
    // rem_euclid can return exactly 360.0 for tiny negative inputs.
    if r >= 360.0 {
        0.0
    } else {
        r
    }
}

/// A 3-vector; used as a unit vector on the celestial sphere.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vec3 {
    /// x component (towards RA 0, Dec 0).
    pub x: f64,
    /// y component (towards RA 90, Dec 0).
    pub y: f64,
    /// z component (towards the north pole).
    pub z: f64,
}

impl Vec3 {
    /// Dot product.
    pub fn dot(self, o: Vec3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    /// Cross product.
    pub fn cross(self, o: Vec3) -> Vec3 {
        Vec3 {
            x: self.y * o.z - self.z * o.y,
            y: self.z * o.x - self.x * o.z,
            z: self.x * o.y - self.y * o.x,
        }
    }

    /// Euclidean length.
    pub fn norm(self) -> f64 {
        self.dot(self).sqrt()
    }

    /// This vector scaled to unit length, or `None` for the zero vector.
    pub fn normalized(self) -> Option<Vec3> {
        let n = self.norm();
        (n > 1e-300).then(|| Vec3 {
            x: self.x / n,
            y: self.y / n,
            z: self.z / n,
        })
    }

    /// The sky position this (non-zero) vector points at.
    pub fn to_point(self) -> SkyPoint {
        let ra = self.y.atan2(self.x).to_degrees();
        let dec = self
            .z
            .atan2((self.x * self.x + self.y * self.y).sqrt())
            .to_degrees();
        SkyPoint {
            ra: normalize_ra(ra),
            dec,
        }
    }
}

impl std::ops::Add for Vec3 {
    type Output = Vec3;

    fn add(self, o: Vec3) -> Vec3 {
        Vec3 {
            x: self.x + o.x,
            y: self.y + o.y,
            z: self.z + o.z,
        }
    }
}

/// Great-circle distance between two positions, in degrees (numerically stable at all scales).
pub fn angular_separation(a: SkyPoint, b: SkyPoint) -> f64 {
    separation(a.to_vec3(), b.to_vec3())
}

/// [`angular_separation`] of two positions already turned into unit vectors: the same number,
/// without the sines and cosines.
pub fn separation(a: Vec3, b: Vec3) -> f64 {
    a.cross(b).norm().atan2(a.dot(b)).to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ra_is_wrapped() {
        assert_eq!(SkyPoint::new(-10.0, 0.0).map(|p| p.ra), Ok(350.0));
        assert_eq!(SkyPoint::new(720.5, 0.0).map(|p| p.ra), Ok(0.5));
        assert!(SkyPoint::new(0.0, 91.0).is_err());
        assert!(SkyPoint::new(f64::NAN, 0.0).is_err());
    }

    #[test]
    fn separation_across_ra_zero_and_at_the_pole() {
        let a = SkyPoint {
            ra: 359.5,
            dec: 0.0,
        };
        let b = SkyPoint { ra: 0.5, dec: 0.0 };
        assert!((angular_separation(a, b) - 1.0).abs() < 1e-12);
        let p = SkyPoint {
            ra: 10.0,
            dec: 89.0,
        };
        let q = SkyPoint {
            ra: 190.0,
            dec: 89.0,
        };
        assert!((angular_separation(p, q) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn vector_round_trip() {
        for (ra, dec) in [(0.0, 0.0), (123.4, -56.7), (359.999, 89.9), (180.0, -90.0)] {
            let p = SkyPoint::new(ra, dec).expect("valid");
            let q = p.to_vec3().to_point();
            assert!(angular_separation(p, q) < 1e-10, "{ra} {dec}");
        }
    }
}
