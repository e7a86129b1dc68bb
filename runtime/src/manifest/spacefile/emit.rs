//! Writes the app.toml text for a read [`Spacefile`], field by field as README.md's table
//! "Moving a Space app" says, and collects what needs the author's attention: each such line
//! is also kept in the text as a `# needs your attention:` comment where it applies.

use super::read::{Micro, Spacefile};

/// componentize-py, called through python3 so it need not be on PATH (as `micro-wasm new
/// --lang python` writes it); `{wit}` and `{module}`/`{out}` are filled in.
const PY_BUILD: &str = "python3 -c 'import componentize_py as c; c.script()' -q -d {wit} \
                        -w micro:space/micro@0.1.0 componentize {module} -o {out}";
/// The JS SDK's build script (`micro-wasm new --lang js` copies it into the code dir).
const JS_BUILD: &str = "node build.mjs";

/// The app.toml being written and the attention lines.
pub(super) struct Out {
    pub text: String,
    pub attention: Vec<String>,
}

impl Out {
    fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push('\n');
    }

    fn key(&mut self, key: &str, value: &str) {
        self.line(&format!("{key} = {}", quote(value)));
    }

    /// A plain comment, wrapped; line breaks and control characters become spaces.
    fn comment(&mut self, s: &str) {
        let flat: String = s
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        for l in wrap(&flat, 94) {
            self.line(&format!("# {l}"));
        }
    }

    /// A comment the author must act on; also printed by `import`. `who` names the Micro.
    fn attention(&mut self, who: Option<&str>, s: &str) {
        self.comment(&format!("needs your attention: {s}"));
        self.attention.push(match who {
            Some(m) => format!("micro `{m}`: {s}"),
            None => s.to_string(),
        });
    }
}

/// app.toml for `sf`; `file` names the Spacefile in the header, `dir_name` (the Spacefile's
/// directory) gives the app name when `app_name` is missing.
pub(super) fn app_toml(sf: &Spacefile, file: &str, dir_name: &str) -> Out {
    let mut o = Out {
        text: String::new(),
        attention: Vec::new(),
    };
    o.comment(&format!(
        "Made by `micro-wasm import` from {file}; the mapping of each field is in README.md, \
         \"Moving a Space app\". Run from this directory: `micro-wasm run --build`."
    ));
    o.line("");
    app(&mut o, sf, dir_name);
    for m in &sf.micros {
        o.line("");
        micro(&mut o, m);
    }
    o
}

fn app(o: &mut Out, sf: &Spacefile, dir_name: &str) {
    o.line("[app]");
    let name = sf
        .app_name
        .as_deref()
        .map(slug)
        .filter(|s| !s.is_empty())
        .or_else(|| Some(slug(dir_name)).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "app".into());
    if let Some(written) = &sf.app_name
        && *written != name
    {
        o.comment(&format!("Spacefile app_name: {}", quote(written)));
    }
    o.key("name", &name);
    let with_keys: Vec<&str> = sf
        .micros
        .iter()
        .filter(|m| m.api_keys)
        .map(|m| m.name.as_str())
        .collect();
    let private = sf.micros.iter().any(|m| !m.public);
    if with_keys.is_empty() {
        if private {
            o.attention(
                None,
                "Deta kept every route outside `public` and `public_routes` behind the owner's \
                 login; micro-wasm has no login, so with auth = \"none\" every route is open. \
                 To close them set auth = \"api-key\" and make a key with `micro-wasm keys create \
                 NAME`.",
            );
        }
        o.key("auth", "none");
    } else {
        if with_keys.len() < sf.micros.len() {
            o.attention(
                None,
                &format!(
                    "presets.api_keys was on for {} only; auth = \"api-key\" is app-wide, so \
                     every route of every micro that is not public needs an X-Space-App-Key.",
                    with_keys.join(", ")
                ),
            );
        }
        o.comment("presets.api_keys: every route but the public ones needs X-Space-App-Key.");
        o.key("auth", "api-key");
    }
    if let Some(icon) = &sf.icon {
        o.comment(&format!(
            "Spacefile icon: {} (not used: micro-wasm has no app launcher)",
            quote(icon)
        ));
    }
    if let Some(pwa) = sf.auto_pwa {
        o.comment(&format!(
            "Spacefile auto_pwa: {pwa} (not used: micro-wasm injects no PWA manifest or worker)"
        ));
    }
}

fn micro(o: &mut Out, m: &Micro) {
    let who = Some(m.name.as_str());
    o.line("[[micro]]");
    if let Some(written) = &m.name_written {
        o.comment(&format!("Spacefile name: {}", quote(written)));
    }
    o.key("name", &m.name);
    if m.primary {
        o.line("primary = true");
        if let Some(p) = &m.path {
            o.attention(
                who,
                &format!(
                    "the primary is served at /; its path {} is dropped",
                    quote(p)
                ),
            );
        }
    } else if let Some(p) = &m.path {
        o.key("path", p);
    }
    let src = clean_src(&m.src);
    o.key("src", &src);
    let wasm = format!("{}.wasm", m.name);
    let component = if src == "." {
        wasm.clone()
    } else {
        format!("{src}/{wasm}")
    };
    o.key("component", &component);
    engine(o, m, &src, &wasm);
    if m.public {
        o.line("public = true");
    }
    if !m.public_routes.is_empty() {
        let routes: Vec<String> = m.public_routes.iter().map(|r| quote(r)).collect();
        o.line(&format!("public_routes = [{}]", routes.join(", ")));
    }
    leftovers(o, m);
    env(o, m);
    for a in &m.actions {
        o.line("");
        o.line("[[micro.action]]");
        o.key("id", &a.id);
        o.key("name", &a.name);
        if let Some(d) = &a.description {
            o.key("description", d);
        }
        if let Some(w) = &a.interval_written {
            o.comment(&format!("Spacefile default_interval: {}", quote(w)));
        }
        o.key("interval", &a.interval);
    }
}

/// The `build` line and the notes for the Micro's engine.
fn engine(o: &mut Out, m: &Micro, src: &str, wasm: &str) {
    let who = Some(m.name.as_str());
    let wit = format!("{}wit", up(src));
    match m.engine.as_str() {
        "python3.9" | "python3.8" => {
            let module = python_module(m.run.as_deref());
            o.attention(
                who,
                &format!(
                    "engine {} becomes a componentize-py build of {module}.py. The app must be \
                     served through the Python SDK (sdk/python): end {module}.py with \
                     `IncomingHandler = space_wsgi.export(app)` for a WSGI app (Flask, Bottle) \
                     or `space_asgi.export(app)` for an ASGI one (Starlette), or write it on \
                     `space.App`; copy those modules and space.py, which they use (and deta.py \
                     for Base and Drive), where componentize-py finds them (`-p`) and the \
                     repo's wit/ beside app.toml. \
                     Packages must be pure Python (or WASI builds; FastAPI's pydantic-core is \
                     neither): pip install them outside {src} and add that dir with `-p` \
                     (README.md, \"Moving a Space app\", walks a Flask app through).",
                    m.engine
                ),
            );
            let build = PY_BUILD
                .replace("{wit}", &wit)
                .replace("{module}", &module)
                .replace("{out}", wasm);
            o.key("build", &build);
        }
        "nodejs16" => {
            let entry = node_entry(m.run.as_deref());
            o.attention(
                who,
                &format!(
                    "engine nodejs16 becomes a componentize-js build (the JS SDK, sdk/js). The code \
                     must answer fetch events or use space.js: a server that listens on a port \
                     (Express, http.createServer) does not run in a component. Copy the SDK's \
                     build.mjs, space.js, package-lock.json and wit/js.wit into {src}, the repo's \
                     wit/ beside app.toml, and give package.json \"micro-wasm\": {{\"wit\": \"{wit}\", \
                     \"components\": {{\"{}\": {{\"source\": \"{entry}\", \"world\": \"micro\"}}}}}} \
                     (`micro-wasm new x --lang js` shows the layout).",
                    m.name
                ),
            );
            o.key("build", JS_BUILD);
        }
        "static" | "react" | "svelte" | "vue" => {
            let serve = m.serve.as_deref().unwrap_or(".");
            let files = match serve.trim_start_matches("./").trim_end_matches('/') {
                "" | "." => src.to_string(),
                sub => format!("{src}/{sub}"),
            };
            o.attention(
                who,
                &format!(
                    "engine {} served the files of {} as they are; serve them with the Python \
                     SDK's static-file Micro: set `src` to {files} (read at /app) and `build` \
                     to a componentize-py build of sdk/python/space_static.py (`componentize \
                     space_static -p <dir of the SDK>`), with its `component` outside {files} \
                     so it is not served too; or serve them from a web server or CDN in front \
                     of micro-wasm and remove this micro.",
                    m.engine,
                    quote(serve)
                ),
            );
        }
        "next" | "nuxt" | "svelte-kit" => {
            o.attention(
                who,
                &format!(
                    "engine {} ran a Node.js server, which a component cannot. Export the site \
                     as static files (next export, nuxt generate, adapter-static) and serve them \
                     as a static micro would be, or move the server routes to a JS micro on the \
                     SDK.",
                    m.engine
                ),
            );
        }
        _ => {
            o.attention(
                who,
                &format!(
                    "engine {} ran `run` as a Linux process. Build the code as a wasi:http \
                     component instead (Rust: cargo build --target wasm32-wasip2; Go: TinyGo \
                     -target=wasip2), then set `build` and point `component` at its output.",
                    m.engine
                ),
            );
        }
    }
}

/// `run`, `dev`, `commands`, `include` and `serve`: kept as comments, with what to do.
fn leftovers(o: &mut Out, m: &Micro) {
    let who = Some(m.name.as_str());
    if let Some(run) = &m.run {
        o.comment(&format!("Spacefile run: {}", quote(run)));
        o.attention(
            who,
            "`run` started a process listening on $PORT; a component has no process: micro-wasm \
             calls its handler for each request, so `run` has no equivalent.",
        );
    }
    if let Some(dev) = &m.dev {
        o.comment(&format!("Spacefile dev: {}", quote(dev)));
        o.attention(
            who,
            "`dev` was `space dev`'s command; use `micro-wasm run --build --watch` instead.",
        );
    }
    if !m.commands.is_empty() {
        let cmds: Vec<String> = m.commands.iter().map(|c| quote(c)).collect();
        o.comment(&format!("Spacefile commands: [{}]", cmds.join(", ")));
        o.attention(
            who,
            "`commands` ran on Deta's Linux builder before packaging and are not run here; add \
             to `build` (joined with &&) the ones the component's build needs.",
        );
    }
    if !m.include.is_empty() {
        let inc: Vec<String> = m.include.iter().map(|c| quote(c)).collect();
        o.comment(&format!("Spacefile include: [{}]", inc.join(", ")));
        o.attention(
            who,
            "`include` chose what was packaged; micro-wasm gives the component the whole src dir \
             at /app (at most 250 MB), so move what it does not need out of it.",
        );
    }
}

/// `presets.env`: defaults become `[micro.env]`; a variable without one is left commented.
fn env(o: &mut Out, m: &Micro) {
    if m.env.is_empty() {
        return;
    }
    o.line("");
    o.line("[micro.env]");
    for e in &m.env {
        if let Some(d) = &e.description {
            o.comment(d);
        }
        match &e.default {
            Some(v) => o.key(&key(&e.name), v),
            None => {
                o.attention(
                    Some(&m.name),
                    &format!(
                        "env {} has no default: set it when you run, with --env {}.{}=VALUE or \
                         an --env-file.",
                        e.name, m.name, e.name
                    ),
                );
                o.line(&format!("# {} = \"\"", key(&e.name)));
            }
        }
    }
}

/// A TOML string: basic, with escapes.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be.
fn key(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { s.to_string() } else { quote(s) }
}

/// An app name from free text: lowercase `[a-z0-9-]`, at most 32 characters.
pub(super) fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.truncate(32);
    out.trim_matches('-').to_string()
}

/// `./src/api/` → `src/api`; `./` or `` → `.`.
pub(super) fn clean_src(src: &str) -> String {
    let parts: Vec<&str> = src
        .trim()
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let lead = if src.trim().starts_with('/') { "/" } else { "" };
    if parts.is_empty() {
        return if lead.is_empty() {
            ".".into()
        } else {
            "/".into()
        };
    }
    format!("{lead}{}", parts.join("/"))
}

/// The way from `src` back to the app dir: `../../` for `src/api`, `` for `.`.
fn up(src: &str) -> String {
    if src == "." {
        return String::new();
    }
    "../".repeat(src.split('/').count())
}

/// The module of `uvicorn main:app` / `gunicorn app:server`; else Deta's default, `main`.
pub(super) fn python_module(run: Option<&str>) -> String {
    run.into_iter()
        .flat_map(str::split_whitespace)
        .filter_map(|w| w.split_once(':'))
        .map(|(m, _)| m)
        .find(|m| {
            !m.is_empty()
                && m.split('.').all(|p| {
                    p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !p.starts_with(|c: char| c.is_ascii_digit())
                        && !p.is_empty()
                })
        })
        .map_or_else(|| "main".into(), str::to_string)
}

/// The script of `node index.js`; else Deta's default, `index.js`.
fn node_entry(run: Option<&str>) -> String {
    run.into_iter()
        .flat_map(str::split_whitespace)
        .find(|w| w.ends_with(".js") || w.ends_with(".mjs"))
        .unwrap_or("index.js")
        .to_string()
}

/// `s` in lines of at most `width` characters, broken at spaces.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in s.split(' ') {
        let last = lines.last_mut().expect("one line");
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}
