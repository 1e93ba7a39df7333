//! Virtual paths: what the FTP session sees, with the user's home as `/`.
//!
//! Resolution is pure string work; it only guarantees that the result is absolute, normalised and
//! free of `.`/`..`. Confinement to the home is enforced separately by the capability-based
//! backend ([`LocalJail`](super::LocalJail), [`ObjectStore`](super::ObjectStore)), so a bug here can never open a door.

use std::fmt;

/// Longest accepted path component, in bytes (the usual `NAME_MAX`).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Longest accepted path (argument or result), in bytes (the usual `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// Why a path argument was refused (the session answers 553).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The argument contains a NUL byte.
    #[error("path contains a NUL byte")]
    Nul,
    /// The argument contains a carriage return or line feed.
    #[error("path contains a line break")]
    LineBreak,
    /// One component is longer than [`MAX_COMPONENT_BYTES`].
    #[error("path component of {len} bytes exceeds {MAX_COMPONENT_BYTES}")]
    ComponentTooLong {
        /// Length of the offending component in bytes.
        len: usize,
    },
    /// The argument or the resolved path is longer than [`MAX_PATH_BYTES`].
    #[error("path of {len} bytes exceeds {MAX_PATH_BYTES}")]
    PathTooLong {
        /// Length of the offending path in bytes.
        len: usize,
    },
    /// A name that cannot denote a file (`.`, `..`, empty or containing `/`).
    #[error("not a valid file name")]
    BadName,
}

/// An absolute, normalised, `/`-separated UTF-8 path inside the user's home (`/` is the home).
///
/// Invariants: starts with `/`; no empty, `.` or `..` components; no trailing `/` except the
/// root itself; no NUL, CR or LF; every component at most 255 bytes; at most 4096 bytes in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// The home directory, `/`.
    pub fn root() -> Self {
        VirtualPath("/".to_owned())
    }

    /// Resolves an FTP argument against the current directory: relative or absolute, with `.`,
    /// `..` (which stops at `/`), repeated and trailing slashes. An empty argument is `cwd`.
    pub fn resolve(cwd: &VirtualPath, arg: &str) -> Result<VirtualPath, PathError> {
        check_raw(arg)?;
        let mut parts: Vec<&str> = if arg.starts_with('/') {
            Vec::new()
        } else {
            cwd.components().collect()
        };
        for component in arg.split('/') {
            if component.len() > MAX_COMPONENT_BYTES {
                return Err(PathError::ComponentTooLong {
                    len: component.len(),
                });
            }
            match component {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                name => parts.push(name),
            }
        }
        let mut resolved = String::with_capacity(arg.len() + cwd.0.len() + 1);
        for part in &parts {
            resolved.push('/');
            resolved.push_str(part);
        }
        if resolved.is_empty() {
            resolved.push('/');
        }
        if resolved.len() > MAX_PATH_BYTES {
            return Err(PathError::PathTooLong {
                len: resolved.len(),
            });
        }
        Ok(VirtualPath(resolved))
    }

    /// Parses an absolute path, normalising it like [`VirtualPath::resolve`] from `/`.
    pub fn parse(absolute: &str) -> Result<VirtualPath, PathError> {
        VirtualPath::resolve(&VirtualPath::root(), absolute)
    }

    /// The path as text, e.g. `/pub/file.txt`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the home itself.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The components from the root down; empty for `/`.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|part| !part.is_empty())
    }

    /// The last component, or `None` for `/`.
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.0.rsplit('/').next()
        }
    }

    /// The containing directory; `/` is its own parent (as `..` at the root).
    pub fn parent(&self) -> VirtualPath {
        match self.0.rfind('/') {
            Some(0) | None => VirtualPath::root(),
            Some(index) => VirtualPath(self.0[..index].to_owned()),
        }
    }

    /// Appends one file name (not a path: `/`, `.`, `..` and empty names are refused).
    pub fn join(&self, name: &str) -> Result<VirtualPath, PathError> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(PathError::BadName);
        }
        check_raw(name)?;
        if name.len() > MAX_COMPONENT_BYTES {
            return Err(PathError::ComponentTooLong { len: name.len() });
        }
        let joined = if self.is_root() {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.0)
        };
        if joined.len() > MAX_PATH_BYTES {
            return Err(PathError::PathTooLong { len: joined.len() });
        }
        Ok(VirtualPath(joined))
    }

    /// Whether `self` is `ancestor` or lies below it.
    pub fn starts_with(&self, ancestor: &VirtualPath) -> bool {
        ancestor.is_root()
            || self.0 == ancestor.0
            || (self.0.starts_with(&ancestor.0)
                && self.0.as_bytes().get(ancestor.0.len()) == Some(&b'/'))
    }
}

impl Default for VirtualPath {
    fn default() -> Self {
        VirtualPath::root()
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl AsRef<str> for VirtualPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Refuses characters no name may hold and arguments too long to be a path.
fn check_raw(arg: &str) -> Result<(), PathError> {
    if arg.len() > MAX_PATH_BYTES {
        return Err(PathError::PathTooLong { len: arg.len() });
    }
    if arg.contains('\0') {
        return Err(PathError::Nul);
    }
    if arg.contains(['\r', '\n']) {
        return Err(PathError::LineBreak);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(cwd: &str, arg: &str) -> Result<String, PathError> {
        let cwd = VirtualPath::parse(cwd)?;
        VirtualPath::resolve(&cwd, arg).map(|path| path.as_str().to_owned())
    }

    #[test]
    fn resolves_relative_and_absolute_arguments() {
        let table = [
            ("/", "a", "/a"),
            ("/a", "b/c", "/a/b/c"),
            ("/a/b", "/x/y", "/x/y"),
            ("/a/b", "", "/a/b"),
            ("/a/b", ".", "/a/b"),
            ("/a/b", "./c/./d", "/a/b/c/d"),
            ("/a/b", "..", "/a"),
            ("/a/b", "../..", "/"),
            ("/a/b", "../c", "/a/c"),
            ("/", "a//b///c", "/a/b/c"),
            ("/", "a/b/", "/a/b"),
            ("/", "//", "/"),
            ("/a", "/", "/"),
            ("/", "...", "/..."),
            ("/", ".hidden", "/.hidden"),
            ("/", "a b/ c ", "/a b/ c "),
            ("/", "dir\\..\\x", "/dir\\..\\x"),
            ("/", "ünïcødé/日本", "/ünïcødé/日本"),
        ];
        for (cwd, arg, expected) in table {
            assert_eq!(
                at(cwd, arg).as_deref(),
                Ok(expected),
                "cwd {cwd:?} arg {arg:?}"
            );
        }
    }

    #[test]
    fn dot_dot_never_climbs_above_root() {
        let table = [
            ("/", ".."),
            ("/", "../../.."),
            ("/", "/../.."),
            ("/a", "../../../.."),
            ("/a/b", "../../../../"),
        ];
        for (cwd, arg) in table {
            assert_eq!(at(cwd, arg).as_deref(), Ok("/"), "cwd {cwd:?} arg {arg:?}");
        }
        assert_eq!(at("/", "../../etc/passwd").as_deref(), Ok("/etc/passwd"));
        assert_eq!(at("/a", "../../../x/../y").as_deref(), Ok("/y"));
    }

    #[test]
    fn refuses_nul_line_breaks_and_overlong_input() {
        assert_eq!(at("/", "a\0b"), Err(PathError::Nul));
        assert_eq!(at("/", "a\rb"), Err(PathError::LineBreak));
        assert_eq!(at("/", "a\nb"), Err(PathError::LineBreak));
        let long_name = "x".repeat(256);
        assert_eq!(
            at("/", &long_name),
            Err(PathError::ComponentTooLong { len: 256 })
        );
        assert_eq!(at("/", &"x".repeat(255)).map(|p| p.len()), Ok(256));
        let long_path = "abcdefgh/".repeat(456);
        assert!(matches!(
            at("/", &long_path),
            Err(PathError::PathTooLong { .. })
        ));
    }

    #[test]
    fn refuses_a_result_longer_than_the_limit() {
        let cwd = VirtualPath::parse(&"d/".repeat(2000)).expect("4000-byte cwd is valid");
        let result = VirtualPath::resolve(&cwd, &"e/".repeat(100));
        assert!(matches!(result, Err(PathError::PathTooLong { len }) if len > MAX_PATH_BYTES));
    }

    #[test]
    fn parent_file_name_and_join() {
        let path = VirtualPath::parse("/a/b/c").expect("valid");
        assert_eq!(path.file_name(), Some("c"));
        assert_eq!(path.parent().as_str(), "/a/b");
        assert_eq!(path.parent().parent().parent().as_str(), "/");
        assert_eq!(VirtualPath::root().parent().as_str(), "/");
        assert_eq!(VirtualPath::root().file_name(), None);
        assert_eq!(
            VirtualPath::root().join("x").map(|p| p.0),
            Ok("/x".to_owned())
        );
        assert_eq!(path.join("d").map(|p| p.0), Ok("/a/b/c/d".to_owned()));
        for bad in ["", ".", "..", "a/b"] {
            assert_eq!(path.join(bad), Err(PathError::BadName), "{bad:?}");
        }
        assert_eq!(path.join("a\0"), Err(PathError::Nul));
        assert_eq!(path.components().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(VirtualPath::root().components().count(), 0);
    }

    #[test]
    fn starts_with_respects_component_boundaries() {
        let path = VirtualPath::parse("/ab/c").expect("valid");
        assert!(path.starts_with(&VirtualPath::root()));
        assert!(path.starts_with(&VirtualPath::parse("/ab").expect("valid")));
        assert!(path.starts_with(&path));
        assert!(!path.starts_with(&VirtualPath::parse("/a").expect("valid")));
    }

    proptest! {
        #[test]
        fn any_input_resolves_to_a_normalised_absolute_path(
            cwd in "(/[a-z.]{1,3}){0,4}",
            arg in "\\PC{0,64}|[./a\\x00\\r\\n]{0,40}",
        ) {
            let cwd = VirtualPath::parse(&cwd).expect("generated cwd is valid");
            if let Ok(path) = VirtualPath::resolve(&cwd, &arg) {
                let text = path.as_str();
                prop_assert!(text.starts_with('/'));
                prop_assert!(text == "/" || !text.ends_with('/'));
                prop_assert!(!text.contains("//"));
                prop_assert!(!text.contains(['\0', '\r', '\n']));
                prop_assert!(path.components().all(|c| c != "." && c != ".."));
                // Normalised: resolving the result again changes nothing.
                prop_assert_eq!(VirtualPath::parse(text), Ok(path.clone()));
            } else {
                prop_assert!(arg.contains(['\0', '\r', '\n']) || arg.len() > 255);
            }
        }
    }
}
