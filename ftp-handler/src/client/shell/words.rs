//! Splits a shell line into words: spaces separate, quotes group, backslash escapes.
//! `put "my file.txt"`, `cd 'dir with spaces'` and `rm a\ b` all name one file.

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordsError {
    /// A quote was opened and never closed.
    #[error("unterminated {0} quote")]
    Unterminated(char),
    /// The line ends with a lone backslash.
    #[error("the line ends with a lone backslash")]
    TrailingBackslash,
}

/// The words of `line`, quotes removed.
pub fn split(line: &str) -> Result<Vec<String>, WordsError> {
    let mut words = Vec::new();
    let mut current = String::new();
    // Whether a word is open even if empty (`""` is an empty word).
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err(WordsError::Unterminated('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => current.push(c),
                            None => return Err(WordsError::Unterminated('"')),
                        },
                        Some(c) => current.push(c),
                        None => return Err(WordsError::Unterminated('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                current.push(chars.next().ok_or(WordsError::TrailingBackslash)?);
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line).unwrap()
    }

    #[test]
    fn splits_on_spaces() {
        assert_eq!(words("  get  a.txt   b.txt "), ["get", "a.txt", "b.txt"]);
        assert!(words("   ").is_empty());
    }

    #[test]
    fn quotes_and_escapes_keep_spaces() {
        assert_eq!(
            words(r#"put "my file.txt" 'x y'"#),
            ["put", "my file.txt", "x y"]
        );
        assert_eq!(words(r"rm a\ b"), ["rm", "a b"]);
        assert_eq!(words(r#"mv "say \"hi\"" ''"#), ["mv", "say \"hi\"", ""]);
        assert_eq!(words("cd dir'with space'"), ["cd", "dirwith space"]);
    }

    #[test]
    fn refuses_open_quotes() {
        assert_eq!(split("get \"a"), Err(WordsError::Unterminated('"')));
        assert_eq!(split("get 'a"), Err(WordsError::Unterminated('\'')));
        assert_eq!(split("get a\\"), Err(WordsError::TrailingBackslash));
    }
}
