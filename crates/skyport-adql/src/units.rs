//! VO-unit conversion factors for ADQL's `IN_UNIT`: the vocabulary's one VOUnit grammar
//! ([`skyport_schema::units`]).

pub use skyport_schema::units::conversion_factor;
