//! `POST /v1/authority/files`: a health authority's signed trace batch or
//! color policy, listed in the key server's index.

use greenlight_protocol::index::FileKind;
use serde::{Deserialize, Serialize};

/// The kinds of file an authority may list, as the JSON names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuthorityFileKind {
    /// A signed trace batch (`GL_TRACE`, spec §9.5).
    TraceBatch,
    /// A signed color policy (`GL_POLCY`, spec §13).
    ColorPolicy,
    /// The region's key set, signed by the authority's root key
    /// (`GL_TRUST`, spec §2.3).
    KeySet,
}

impl AuthorityFileKind {
    /// The name in messages (`trace_batch`, `color_policy`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityFileKind::TraceBatch => "trace_batch",
            AuthorityFileKind::ColorPolicy => "color_policy",
            AuthorityFileKind::KeySet => "key_set",
        }
    }
}

impl From<AuthorityFileKind> for FileKind {
    fn from(kind: AuthorityFileKind) -> Self {
        match kind {
            AuthorityFileKind::TraceBatch => FileKind::TraceBatch,
            AuthorityFileKind::ColorPolicy => FileKind::ColorPolicy,
            AuthorityFileKind::KeySet => FileKind::KeySet,
        }
    }
}

/// The answer to a listed authority file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListedFile {
    /// What was listed.
    pub kind: AuthorityFileKind,
    /// The file's own sequence number.
    pub sequence: u64,
    /// Its content address (64 hex digits), under `/v1/files/`.
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_named_as_before() {
        let listed = ListedFile { kind: AuthorityFileKind::ColorPolicy, sequence: 3, sha256: "ab".into() };
        let text = serde_json::to_string(&listed).expect("JSON");
        assert_eq!(text, r#"{"kind":"color_policy","sequence":3,"sha256":"ab"}"#);
        assert_eq!(FileKind::from(AuthorityFileKind::TraceBatch), FileKind::TraceBatch);
    }
}
