//! The messages of the two logs, field by field, in the order Rubin's services send them.

/// How a field is stored and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Text.
    Text,
    /// A 32-bit integer.
    Int,
    /// true/false.
    Bool,
    /// A list of strings (JSON text in the table).
    List,
    /// A naive TAI date and time.
    Time,
    /// A duration, sent as float seconds.
    Seconds,
    /// A JSON object (JSON text in the table).
    Object,
    /// `is_valid`: not stored, true while `date_invalidated` is NULL.
    Valid,
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its name, in JSON and in the table.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
    /// Whether it may be null.
    pub nullable: bool,
    /// Whether `POST …/messages` requires it.
    pub required: bool,
    /// Whether `PATCH …/messages/{id}` may change it.
    pub editable: bool,
}

const fn f(name: &'static str, ty: Type, nullable: bool, required: bool, editable: bool) -> Field {
    Field {
        name,
        ty,
        nullable,
        required,
        editable,
    }
}

use Type::*;

/// Rubin's exposurelog message.
pub const EXPOSURE: &[Field] = &[
    f("id", Text, false, false, false),
    f("site_id", Text, false, false, false),
    f("obs_id", Text, false, true, false),
    f("instrument", Text, false, true, false),
    f("day_obs", Int, false, false, false),
    f("seq_num", Int, false, false, false),
    f("message_text", Text, false, true, true),
    f("level", Int, false, false, true),
    f("tags", List, false, false, true),
    f("urls", List, false, false, true),
    f("user_id", Text, false, true, true),
    f("user_agent", Text, false, true, true),
    f("is_human", Bool, false, true, true),
    f("is_valid", Valid, false, false, false),
    f("exposure_flag", Text, false, false, true),
    f("date_added", Time, false, false, false),
    f("date_invalidated", Time, true, false, false),
    f("parent_id", Text, true, false, false),
];

/// Rubin's narrativelog message (version 0.7).
pub const NARRATIVE: &[Field] = &[
    f("id", Text, false, false, false),
    f("site_id", Text, false, false, false),
    f("message_text", Text, false, true, true),
    f("level", Int, false, true, true),
    f("tags", List, false, false, true),
    f("urls", List, false, false, true),
    f("time_lost", Seconds, false, false, true),
    f("date_begin", Time, true, false, true),
    f("user_id", Text, false, true, true),
    f("user_agent", Text, false, true, true),
    f("is_human", Bool, false, true, true),
    f("is_valid", Valid, false, false, false),
    f("date_added", Time, false, false, false),
    f("date_invalidated", Time, true, false, false),
    f("parent_id", Text, true, false, false),
    f("systems", List, true, false, true),
    f("subsystems", List, true, false, true),
    f("cscs", List, true, false, true),
    f("date_end", Time, true, false, true),
    f("components", List, true, false, true),
    f("primary_software_components", List, true, false, true),
    f("primary_hardware_components", List, true, false, true),
    f("category", Text, true, false, true),
    f("time_lost_type", Text, true, false, true),
    f("components_json", Object, true, false, true),
];

/// The values `exposure_flag` may take.
pub const EXPOSURE_FLAGS: [&str; 3] = ["none", "junk", "questionable"];
