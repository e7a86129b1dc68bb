//! The environment of every Micro (SPEC §5; S4, S10): the preset Deta variables, then the
//! user's variables in precedence order (`[micro.env]`, `--env-file`, `--env`).
//!
//! Pure data in, a list out. It must not read the host's environment: nothing from the
//! runtime's own environment ever reaches a guest.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::manifest::RESERVED_ENV;

/// What the preset variables are made of for one Micro.
pub struct Presets<'a> {
    pub project_key: &'a str,
    pub app_version: &'a str,
    pub hostname: &'a str,
    pub micro: &'a str,
    pub primary: bool,
    pub port: u16,
}

/// A user variable from the command line: for every Micro, or for one (`MICRO.NAME=VALUE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    pub micro: Option<String>,
    pub name: String,
    pub value: String,
}

impl Override {
    /// Parses `NAME=VALUE` or `MICRO.NAME=VALUE`. Names are checked against the reserved set.
    pub fn parse(s: &str) -> Result<Override> {
        let (key, value) = s
            .split_once('=')
            .with_context(|| format!("env override `{s}` is not NAME=VALUE"))?;
        let (micro, name) = match key.split_once('.') {
            Some((m, n)) => (Some(m.to_string()), n),
            None => (None, key),
        };
        if name.is_empty() {
            bail!("env override `{s}` has an empty name");
        }
        if RESERVED_ENV.contains(&name) {
            bail!("env override `{s}`: `{name}` is reserved and set by micro-wasm");
        }
        Ok(Override {
            micro,
            name: name.to_string(),
            value: value.to_string(),
        })
    }

    /// Reads an env file: `NAME=VALUE` or `MICRO.NAME=VALUE` per line; blank lines and lines
    /// starting with `#` are skipped; an optional `export ` prefix and surrounding quotes on
    /// the value are removed.
    pub fn parse_file(path: &Path) -> Result<Vec<Override>> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read env file {}", path.display()))?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let mut o =
                Override::parse(line).with_context(|| format!("{}:{}", path.display(), i + 1))?;
            o.value = unquote(&o.value).to_string();
            out.push(o);
        }
        Ok(out)
    }
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// The full environment of a Micro: presets, then `manifest_env`, then the overrides that
/// apply to it (later wins; a later value replaces an earlier one in place).
pub fn micro_env(
    presets: &Presets<'_>,
    manifest_env: &[(String, String)],
    overrides: &[Override],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("DETA_PROJECT_KEY".into(), presets.project_key.into()),
        ("DETA_SPACE_APP".into(), "true".into()),
        ("DETA_SPACE_APP_VERSION".into(), presets.app_version.into()),
        ("DETA_SPACE_APP_HOSTNAME".into(), presets.hostname.into()),
        ("DETA_SPACE_APP_MICRO_NAME".into(), presets.micro.into()),
        (
            "DETA_SPACE_APP_MICRO_TYPE".into(),
            if presets.primary { "primary" } else { "normal" }.into(),
        ),
        ("PORT".into(), presets.port.to_string()),
        ("TMPDIR".into(), "/tmp".into()),
    ];
    let user = manifest_env.iter().cloned().chain(
        overrides
            .iter()
            .filter(|o| o.micro.as_deref().is_none_or(|m| m == presets.micro))
            .map(|o| (o.name.clone(), o.value.clone())),
    );
    for (name, value) in user {
        match env.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => env.push((name, value)),
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presets(micro: &str) -> Presets<'_> {
        Presets {
            project_key: "abcd1234_secret",
            app_version: "1.2.0",
            hostname: "notes.example",
            micro,
            primary: micro == "api",
            port: 4200,
        }
    }

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn s10_presets_are_set() {
        let env = micro_env(&presets("api"), &[], &[]);
        assert_eq!(get(&env, "DETA_SPACE_APP"), Some("true"));
        assert_eq!(get(&env, "DETA_SPACE_APP_MICRO_TYPE"), Some("primary"));
        assert_eq!(get(&env, "PORT"), Some("4200"));
        assert_eq!(get(&env, "TMPDIR"), Some("/tmp"));
        assert_eq!(env.len(), 8);
    }

    #[test]
    fn s10_later_layers_win() {
        let manifest = vec![("GREETING".to_string(), "hello".to_string())];
        let overrides = vec![
            Override::parse("GREETING=hi").unwrap(),
            Override::parse("web.GREETING=only-web").unwrap(),
            Override::parse("api.EXTRA=1").unwrap(),
        ];
        let api = micro_env(&presets("api"), &manifest, &overrides);
        assert_eq!(get(&api, "GREETING"), Some("hi"));
        assert_eq!(get(&api, "EXTRA"), Some("1"));
        let web = micro_env(&presets("web"), &manifest, &overrides);
        assert_eq!(get(&web, "GREETING"), Some("only-web"));
        assert_eq!(get(&web, "EXTRA"), None);
    }

    #[test]
    fn s10_reserved_names_cannot_be_overridden() {
        let e = Override::parse("PORT=1").unwrap_err().to_string();
        assert!(e.contains("reserved"), "{e}");
        assert!(Override::parse("api.DETA_PROJECT_KEY=x").is_err());
        assert!(Override::parse("novalue").is_err());
    }

    #[test]
    fn env_file_lines() {
        let dir = std::env::temp_dir().join(format!("mw-envfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("e.env");
        std::fs::write(&f, "# c\n\nexport A=\"x y\"\napi.B='z'\n").unwrap();
        let o = Override::parse_file(&f).unwrap();
        assert_eq!(o[0].value, "x y");
        assert_eq!(o[1].micro.as_deref(), Some("api"));
        assert_eq!(o[1].value, "z");
        std::fs::write(&f, "BROKEN\n").unwrap();
        let e = format!("{:#}", Override::parse_file(&f).unwrap_err());
        assert!(e.contains("e.env:1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
