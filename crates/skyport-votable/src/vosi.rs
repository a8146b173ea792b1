//! A VOSI table description (`<vosi:table>` with its `<column>`s, VODataService's terms) read
//! into VOTable fields: how a client declares a user table (pyvo's `create_table` with
//! `format="VOSITable"`, CADC youcat's convention).

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::{Field, ReadError};

/// A table as a VOSI description declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDescription {
    /// Its `<name>`, if given.
    pub name: Option<String>,
    /// Its `<description>`.
    pub description: Option<String>,
    /// Its columns.
    pub fields: Vec<Field>,
}

fn malformed(e: impl std::fmt::Display) -> ReadError {
    ReadError::Malformed(e.to_string())
}

/// The most columns a description may declare.
const MAX_COLUMNS: usize = 1000;

/// Reads a VOSI `table` document.
pub fn read_vosi_table(bytes: &[u8]) -> Result<TableDescription, ReadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("the document is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    // Local names of the open elements.
    let mut path: Vec<String> = Vec::new();
    let mut content = String::new();
    let mut table = TableDescription {
        name: None,
        description: None,
        fields: Vec::new(),
    };
    let mut saw_table = false;
    let mut arraysize = None;
    let mut xtype = None;
    loop {
        match reader.read_event().map_err(malformed)? {
            Event::Start(e) => {
                let local = e.local_name().as_ref().to_string();
                if path.is_empty() {
                    if local != "table" {
                        return Err(malformed(format!(
                            "the document is a <{local}>, not a VOSI <table>"
                        )));
                    }
                    saw_table = true;
                }
                if local == "column" && path.len() == 1 {
                    if table.fields.len() == MAX_COLUMNS {
                        return Err(malformed(format!("more than {MAX_COLUMNS} columns")));
                    }
                    table.fields.push(Field::new("", ""));
                }
                if local == "dataType" {
                    for a in e.attributes() {
                        let a = a.map_err(malformed)?;
                        let value = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(malformed)?
                            .into_owned();
                        match a.key.local_name().as_ref() {
                            "arraysize" => arraysize = Some(value),
                            "extendedType" | "xtype" => xtype = Some(value),
                            _ => {}
                        }
                    }
                }
                path.push(local);
                content.clear();
            }
            Event::Empty(e) => {
                if path.is_empty() {
                    return Err(malformed("the document is empty"));
                }
                let _ = e;
            }
            Event::Text(t) => content.push_str(&t.xml10_content()),
            Event::CData(t) => content.push_str(&t.into_inner()),
            Event::GeneralRef(r) => content.push(crate::read::resolve_reference(&r)?),
            Event::End(_) => {
                let value = content.trim().to_string();
                let depth = path.len();
                let element = path.pop().unwrap_or_default();
                let set = |slot: &mut Option<String>| {
                    if !value.is_empty() {
                        *slot = Some(value.clone());
                    }
                };
                match (depth, element.as_str()) {
                    (2, "name") => set(&mut table.name),
                    (2, "description") => set(&mut table.description),
                    (3, _) if path.get(1).is_some_and(|p| p == "column") => {
                        if let Some(f) = table.fields.last_mut() {
                            match element.as_str() {
                                "name" => f.name = value.clone(),
                                "description" => set(&mut f.meta.description),
                                "unit" => set(&mut f.meta.unit),
                                "ucd" => set(&mut f.meta.ucd),
                                "utype" => set(&mut f.meta.utype),
                                "dataType" => {
                                    f.meta.datatype = value.clone();
                                    f.meta.arraysize = arraysize.take();
                                    f.meta.xtype = xtype.take();
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
                content.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_table {
        return Err(malformed("no VOSI <table>"));
    }
    if table.fields.is_empty() {
        return Err(malformed("the table declares no <column>"));
    }
    for (i, f) in table.fields.iter().enumerate() {
        if f.name.is_empty() {
            return Err(malformed(format!("column {} has no <name>", i + 1)));
        }
        if f.meta.datatype.is_empty() {
            return Err(malformed(format!("column {:?} has no <dataType>", f.name)));
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_gives_its_columns() {
        let doc = r#"<?xml version="1.0"?>
<vosi:table xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0"
    xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" type="output">
  <name>user_alice.stars</name>
  <description>My &amp; their stars</description>
  <column>
    <name>id</name>
    <description>Identifier</description>
    <dataType xsi:type="vs:VOTableType" arraysize="16*">char</dataType>
    <flag>indexed</flag>
  </column>
  <column>
    <name>ra</name>
    <unit>deg</unit>
    <ucd>pos.eq.ra;meta.main</ucd>
    <dataType xsi:type="vs:VOTableType">double</dataType>
  </column>
</vosi:table>"#;
        let t = read_vosi_table(doc.as_bytes()).expect("read");
        assert_eq!(t.name.as_deref(), Some("user_alice.stars"));
        assert_eq!(t.description.as_deref(), Some("My & their stars"));
        assert_eq!(t.fields.len(), 2);
        assert_eq!(t.fields[0].name, "id");
        assert_eq!(t.fields[0].meta.datatype, "char");
        assert_eq!(t.fields[0].meta.arraysize.as_deref(), Some("16*"));
        assert_eq!(t.fields[0].meta.description.as_deref(), Some("Identifier"));
        assert_eq!(t.fields[1].meta.unit.as_deref(), Some("deg"));
        assert_eq!(t.fields[1].meta.ucd.as_deref(), Some("pos.eq.ra;meta.main"));
    }

    #[test]
    fn malformed_descriptions_are_refused() {
        for bad in [
            "<VOTABLE/>",
            "<table><name>t</name></table>",
            "<table><column><dataType>int</dataType></column></table>",
            "<table><column><name>x</name></column></table>",
            "not xml <",
        ] {
            assert!(read_vosi_table(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
