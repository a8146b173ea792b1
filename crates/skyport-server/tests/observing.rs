//! Observing metadata beside the images, on the suite's backend: ObsLocTAP's plan
//! (`obsplan`), the observers' logs (`obslog`), and CAOM2 with ObsCore derived from it
//! (`caom2`); data releases (`releases`). One test binary for the three, so the suite links it once.

mod common;

#[path = "observing/caom2.rs"]
mod caom2;
#[path = "observing/obslog.rs"]
mod obslog;
#[path = "observing/obsplan.rs"]
mod obsplan;
#[path = "observing/releases.rs"]
mod releases;
