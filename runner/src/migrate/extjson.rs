//! MongoDB Extended JSON, as command files and components write documents, to and from BSON.
//!
//! Command files are parsed (and their documents checked) when migrations are discovered, before
//! any connection exists, so the conversion lives in the base layer rather than in the MongoDB
//! backend that also uses it.

use mongodb::bson::{Bson, Document};

/// Parses Extended JSON text (relaxed or canonical) into a document.
pub fn parse_document(text: &str, what: &str) -> std::result::Result<Document, String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))?;
    json_to_document(json, what)
}

/// Converts parsed Extended JSON into a document.
pub fn json_to_document(json: serde_json::Value, what: &str) -> std::result::Result<Document, String> {
    match Bson::try_from(json) {
        Ok(Bson::Document(d)) => Ok(d),
        Ok(other) => Err(format!("{what} must be a JSON object, not {:?}", other.element_type())),
        Err(e) => Err(format!("{what} is not valid Extended JSON: {e}")),
    }
}

/// A document as relaxed Extended JSON text.
pub fn document_text(d: Document) -> String {
    Bson::Document(d).into_relaxed_extjson().to_string()
}

