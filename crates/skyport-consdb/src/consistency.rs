//! The daily consistency checks of Rubin's ConsDB (`/consdb/table_consistency/{instrument}/
//! {day_obs}`): structural rules (every exposure has its detectors, ids follow their encoding,
//! detector rows agree with their exposure) and coverage rules (the Rapid Analysis products
//! an exposure should have). Each violation is `{rule, day_obs, seq_num, detail}`; the detail
//! texts are pqserver's, so dashboards built on it read ours alike.

use skyport_store::ddl::{placeholder, table_name};
use skyport_store::Value;

use crate::error::ConsDbError;
use crate::service::ConsDb;

/// The instruments with consistency rules, as pqserver lists them.
pub const CHECKED_INSTRUMENTS: [&str; 2] = ["lsstcam", "latiss"];

/// LSSTCam's guider detectors (no science products expected).
const GUIDERS: &str = "189, 190, 193, 194, 197, 198, 201, 202";

/// One violation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The rule.
    pub rule: String,
    /// The exposure's day.
    pub day_obs: i64,
    /// The exposure's sequence number.
    pub seq_num: i64,
    /// What is wrong.
    pub detail: String,
}

impl ConsDb {
    /// The violations of the instrument's rules on `day_obs`, ordered by rule, day, sequence.
    pub async fn table_consistency(
        &self,
        instrument: &str,
        day_obs: i64,
    ) -> Result<Vec<Violation>, ConsDbError> {
        let lower = instrument.to_ascii_lowercase();
        if !CHECKED_INSTRUMENTS.contains(&lower.as_str()) {
            return Err(ConsDbError::bad_value(
                "instrument",
                instrument,
                CHECKED_INSTRUMENTS.map(String::from).to_vec(),
            ));
        }
        let (_, schema) = self.catalog.instrument(&lower)?;
        let d = self.dialect();
        let t = |name: &str| table_name(d, &schema.name, name);
        let p = placeholder(d, 1);
        let txt = |e: &str| format!("CAST({e} AS TEXT)");
        let (e, c) = (t("exposure"), t("ccdexposure"));
        let mut rules: Vec<(&str, String)> = Vec::new();
        if lower == "latiss" {
            rules.push((
                "ccdexposure_completeness",
                format!(
                    "SELECT e.day_obs, e.seq_num, 'expected 1 ccdexposure row for detector 0, found ' || {n}
                     FROM {e} e LEFT JOIN {c} c ON c.exposure_id = e.exposure_id
                     WHERE e.day_obs = {p} GROUP BY e.day_obs, e.seq_num
                     HAVING COUNT(c.detector) <> 1 OR COALESCE(MIN(c.detector), -1) <> 0 OR COALESCE(MAX(c.detector), -1) <> 0",
                    n = txt("COUNT(c.detector)")
                ),
            ));
        } else {
            rules.push((
                "ccdexposure_completeness",
                format!(
                    "SELECT e.day_obs, e.seq_num, 'expected 205 ccdexposure rows for detectors 0-204, found ' || {n}
                     FROM {e} e LEFT JOIN {c} c ON c.exposure_id = e.exposure_id
                     WHERE e.day_obs = {p} GROUP BY e.day_obs, e.seq_num
                     HAVING COUNT(c.detector) <> 205 OR MIN(c.detector) <> 0 OR MAX(c.detector) <> 204
                        OR COALESCE(SUM(c.detector), -1) <> 20910",
                    n = txt("COUNT(c.detector)")
                ),
            ));
        }
        rules.push((
            "exposure_id_encoding",
            format!(
                "SELECT e.day_obs, e.seq_num, 'exposure_id ' || {id} || ' <> day_obs * 100000 + seq_num'
                 FROM {e} e WHERE e.day_obs = {p}
                   AND e.exposure_id <> CAST(e.day_obs AS BIGINT) * 100000 + e.seq_num",
                id = txt("e.exposure_id")
            ),
        ));
        rules.push((
            "ccdexposure_key_agreement",
            format!(
                "SELECT e.day_obs, e.seq_num,
                        'ccdexposure_id ' || {cid} || ' day_obs/seq_num disagree with exposure_id ' || {eid}
                 FROM {c} c JOIN {e} e ON e.exposure_id = c.exposure_id
                 WHERE e.day_obs = {p} AND (c.day_obs <> e.day_obs OR c.seq_num <> e.seq_num)",
                cid = txt("c.ccdexposure_id"),
                eid = txt("e.exposure_id")
            ),
        ));
        if lower == "latiss" {
            rules.push((
                "exposure_quicklook_coverage",
                format!(
                    "SELECT e.day_obs, e.seq_num, 'missing exposure_quicklook row' FROM {e} e
                     WHERE e.day_obs = {p} AND e.img_type = 'science'
                       AND NOT EXISTS (SELECT 1 FROM {q} q WHERE q.exposure_id = e.exposure_id)",
                    q = t("exposure_quicklook")
                ),
            ));
        } else {
            let (cq, vq, cvq) = (
                t("ccdexposure_quicklook"),
                t("visit1_quicklook"),
                t("ccdvisit1_quicklook"),
            );
            rules.push((
                "no_guider_products",
                format!(
                    "SELECT c.day_obs, c.seq_num, 'guider detector ' || {det} || ' has a ccdexposure_quicklook row'
                     FROM {c} c WHERE c.day_obs = {p} AND c.detector IN ({GUIDERS})
                       AND EXISTS (SELECT 1 FROM {cq} q WHERE q.ccdexposure_id = c.ccdexposure_id)
                     UNION ALL
                     SELECT c.day_obs, c.seq_num, 'guider detector ' || {det} || ' has a ccdvisit1_quicklook row'
                     FROM {c} c WHERE c.day_obs = {p} AND c.detector IN ({GUIDERS})
                       AND EXISTS (SELECT 1 FROM {cvq} v WHERE v.ccdvisit_id = c.ccdexposure_id)",
                    det = txt("c.detector")
                ),
            ));
            rules.push((
                "exposure_quicklook_coverage",
                format!(
                    "SELECT e.day_obs, e.seq_num, 'missing exposure_quicklook row' FROM {e} e
                     WHERE e.day_obs = {p} AND e.img_type IN ('science', 'acq', 'cwfs', 'focus', 'engtest')
                       AND NOT EXISTS (SELECT 1 FROM {q} q WHERE q.exposure_id = e.exposure_id)",
                    q = t("exposure_quicklook")
                ),
            ));
            rules.push((
                "visit1_quicklook_coverage",
                format!(
                    "SELECT e.day_obs, e.seq_num, 'missing visit1_quicklook row' FROM {e} e
                     WHERE e.day_obs = {p} AND e.img_type NOT IN ('indome', 'test')
                       AND NOT EXISTS (SELECT 1 FROM {vq} v WHERE v.visit_id = e.exposure_id)"
                ),
            ));
            rules.push((
                "ccdexposure_quicklook_coverage",
                format!(
                    "SELECT e.day_obs, e.seq_num,
                            'expected ' || {expected} || ' ccdexposure_quicklook rows, found ' || {n}
                     FROM {e} e JOIN {c} c ON c.exposure_id = e.exposure_id
                     LEFT JOIN {cq} q ON q.ccdexposure_id = c.ccdexposure_id
                     WHERE e.day_obs = {p} AND e.img_type NOT IN ('indome', 'test')
                     GROUP BY e.day_obs, e.seq_num, e.img_type
                     HAVING COUNT(q.ccdexposure_id) < CASE WHEN e.img_type = 'cwfs' THEN 189 ELSE 197 END",
                    expected = txt("CASE WHEN e.img_type = 'cwfs' THEN 189 ELSE 197 END"),
                    n = txt("COUNT(q.ccdexposure_id)")
                ),
            ));
            rules.push((
                "ccdvisit1_quicklook_coverage",
                format!(
                    "SELECT e.day_obs, e.seq_num, 'expected 193 ccdvisit1_quicklook rows, found ' || {n}
                     FROM {e} e JOIN {c} c ON c.exposure_id = e.exposure_id
                     LEFT JOIN {cvq} v ON v.ccdvisit_id = c.ccdexposure_id
                     WHERE e.day_obs = {p} AND e.img_type IN ('science', 'acq')
                     GROUP BY e.day_obs, e.seq_num
                     HAVING COUNT(v.ccdvisit_id) < 193",
                    n = txt("COUNT(v.ccdvisit_id)")
                ),
            ));
            rules.push((
                "no_calibration_science_products",
                format!(
                    "SELECT e.day_obs, e.seq_num, 'calibration frame has ' || {n} || ' ccdvisit1_quicklook rows'
                     FROM {e} e JOIN {c} c ON c.exposure_id = e.exposure_id
                     JOIN {cvq} v ON v.ccdvisit_id = c.ccdexposure_id
                     WHERE e.day_obs = {p} AND e.img_type IN ('bias', 'flat', 'dark')
                     GROUP BY e.day_obs, e.seq_num",
                    n = txt("COUNT(*)")
                ),
            ));
        }
        let mut out = Vec::new();
        for (rule, sql) in rules {
            let rows = self.store.query(sql, vec![Value::Int(day_obs)]).await?;
            for r in rows.rows {
                out.push(Violation {
                    rule: rule.to_string(),
                    day_obs: r.first().and_then(Value::as_i64).unwrap_or(day_obs),
                    seq_num: r.get(1).and_then(Value::as_i64).unwrap_or_default(),
                    detail: r
                        .get(2)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
        out.sort_by(|a, b| (&a.rule, a.day_obs, a.seq_num).cmp(&(&b.rule, b.day_obs, b.seq_num)));
        Ok(out)
    }
}
