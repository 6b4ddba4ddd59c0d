//! The config file (`--config`): customer and carrier data, in TOML, with `${VAR}` replaced from
//! the environment before parsing so secrets stay out of the file. Errors name the file, the
//! field and the line; a missing variable names the variable.

use std::path::Path;

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "config file {path}: environment variable {var} is not set (referenced as ${{{var}}})"
    )]
    MissingVar { path: String, var: String },
    #[error("config file {path}: unterminated ${{ at byte {at}")]
    Unterminated { path: String, at: usize },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// Replaces every `${NAME}` with the value of the environment variable `NAME`; `$${` is a
/// literal `${`.
pub fn substitute_env(
    path: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigFileError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find("${") {
        if i > 0 && rest.as_bytes()[i - 1] == b'$' {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            offset += i + 2;
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or(ConfigFileError::Unterminated {
            path: path.to_string(),
            at: offset + i,
        })?;
        let var = &after[..end];
        let value = lookup(var).ok_or_else(|| ConfigFileError::MissingVar {
            path: path.to_string(),
            var: var.to_string(),
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
        offset += i + 2 + end + 1;
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads, substitutes and parses the config file into `T`.
pub fn load_config_file<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigFileError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
        path: display.clone(),
        source,
    })?;
    parse_config_text(&display, &text, |v| std::env::var(v).ok())
}

/// Substitutes and parses config text (what `load_config_file` does after reading).
pub fn parse_config_text<T: DeserializeOwned>(
    path: &str,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<T, ConfigFileError> {
    let text = substitute_env(path, text, lookup)?;
    toml::from_str(&text).map_err(|e| ConfigFileError::Invalid {
        path: path.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "SECRET").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn substitutes_and_escapes() {
        assert_eq!(
            substitute_env("f", "a=${SECRET} b=$${X}", env).unwrap(),
            "a=s3cr3t b=${X}"
        );
        let err = substitute_env("f", "a=${NOPE}", env).unwrap_err();
        assert!(err.to_string().contains("NOPE"), "{err}");
        assert!(substitute_env("f", "a=${OPEN", env).is_err());
    }

    #[test]
    fn invalid_field_is_named() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct C {
            port: u16,
        }
        let err = parse_config_text::<C>("conf.toml", "port = \"eighty\"", env).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("conf.toml") && message.contains("port"),
            "{message}"
        );
    }
}
