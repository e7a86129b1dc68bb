//! `micro-wasm data export DIR` and `data import DIR`: every Base and Drive of an app, to and
//! from plain files — `DIR/base/<name>.jsonl` (one item per line) and `DIR/drive/<name>/<file>`.
//!
//! Both go through the data service's own HTTP API, in process (paged queries and listings,
//! streamed downloads, 25-item puts, chunked uploads), so they work on any store the service
//! runs on and obey its limits. Neither holds a whole file in memory. They must not be run
//! against a state dir another `micro-wasm` writes to at the same time (an export then shows
//! some moment of the data, not one instant).

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Failure, load};
use crate::app::{Options, open_data, state_dir};
use crate::data::{Api, DataService};

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    action: DataAction,
    /// Path to app.toml
    #[arg(long = "app", default_value = "app.toml", global = true)]
    app_toml: PathBuf,
    /// State dir; default .micro-wasm/ beside app.toml
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    /// The app's PostgreSQL store, as for `run --store`
    #[arg(long, value_name = "URL", global = true)]
    store: Option<String>,
}

#[derive(Subcommand, Debug)]
enum DataAction {
    /// Write every Base (DIR/base/NAME.jsonl) and Drive (DIR/drive/NAME/…) to DIR
    Export { dir: PathBuf },
    /// Read what `data export` wrote back into the app's Bases and Drives
    Import { dir: PathBuf },
}

/// Items per put request: the Base API's limit.
const PUT_BATCH: usize = 25;
/// Bytes per uploaded part.
const PART_BYTES: usize = 8 << 20;

pub fn data(args: DataArgs) -> Result<(), Failure> {
    let manifest = load(&args.app_toml)?;
    let opts = Options {
        state_dir: args.state_dir,
        ..Options::default()
    };
    let dir = state_dir(&manifest, &opts).map_err(|e| Failure::Usage(format!("{e:#}")))?;
    let store = crate::app::store_url(&manifest, args.store);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let pg = crate::app::connect_store(store.as_deref()).await?;
        let (keys, service) = open_data(&manifest, &dir, pg).await?;
        let key = keys
            .project_keys()
            .into_iter()
            .next()
            .context("the app has no data key")?;
        let client = Client {
            service,
            project: keys.app_id.clone(),
            key,
        };
        match &args.action {
            DataAction::Export { dir } => export(&client, dir).await,
            DataAction::Import { dir } => import(&client, dir).await,
        }
    })?;
    Ok(())
}

/// The data service, called in process with one of the app's Data Keys.
struct Client {
    service: DataService,
    project: String,
    key: String,
}

impl Client {
    /// Sends one request; the response with its body still streaming.
    async fn send(
        &self,
        api: Api,
        method: Method,
        rest: &str,
        body: Bytes,
    ) -> http::Response<crate::data::DataBody> {
        let uri = format!("/v1/{}/{rest}", self.project);
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-api-key", &self.key);
        if api == Api::Base {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(body))
            .expect("a request to the data service is valid");
        self.service.handle(api, req).await
    }

    /// Sends one request and reads its JSON answer; a status other than `expect` is an error.
    async fn json(
        &self,
        api: Api,
        method: Method,
        rest: &str,
        body: Bytes,
        expect: StatusCode,
    ) -> Result<Value> {
        let response = self.send(api, method.clone(), rest, body).await;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("{method} {rest}: {e}"))?
            .to_bytes();
        if status != expect {
            bail!(
                "{method} {rest}: {status} {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{method} {rest}: not JSON"))
    }
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

async fn export(client: &Client, dir: &Path) -> Result<()> {
    let summary = client.service.summary().await?;
    for base in &summary.bases {
        let n = export_base(client, &base.name, dir).await?;
        eprintln!("base `{}`: {n} items", base.name);
    }
    for drive in &summary.drives {
        let n = export_drive(client, &drive.name, dir).await?;
        eprintln!("drive `{}`: {n} files", drive.name);
    }
    eprintln!("exported to {}", dir.display());
    Ok(())
}

async fn export_base(client: &Client, name: &str, dir: &Path) -> Result<u64> {
    let path = dir.join("base").join(format!("{name}.jsonl"));
    let mut out = create(&path).await?;
    let (mut last, mut count) = (None::<String>, 0);
    loop {
        let query = json!({"query": [], "limit": 1000, "last": last});
        let page = client
            .json(
                Api::Base,
                Method::POST,
                &format!("{}/query", enc(name)),
                Bytes::from(query.to_string()),
                StatusCode::OK,
            )
            .await?;
        for item in page["items"].as_array().into_iter().flatten() {
            out.write_all(format!("{item}\n").as_bytes()).await?;
            count += 1;
        }
        match page["paging"]["last"].as_str() {
            Some(next) => last = Some(next.to_string()),
            None => break,
        }
    }
    out.flush().await?;
    Ok(count)
}

async fn export_drive(client: &Client, name: &str, dir: &Path) -> Result<u64> {
    let root = dir.join("drive").join(name);
    let (mut last, mut count) = (String::new(), 0);
    loop {
        let rest = format!("{}/files?limit=1000&last={}", enc(name), enc(&last));
        let page = client
            .json(Api::Drive, Method::GET, &rest, Bytes::new(), StatusCode::OK)
            .await?;
        for file in page["names"].as_array().into_iter().flatten() {
            let Some(file) = file.as_str() else { continue };
            download(client, name, file, &root.join(relative(file)?)).await?;
            count += 1;
        }
        match page["paging"]["last"].as_str() {
            Some(next) => last = next.to_string(),
            None => break,
        }
    }
    Ok(count)
}

/// A Drive file name as a relative path; the service refuses `..` and absolute names, and so
/// does this, again, before anything is written.
fn relative(name: &str) -> Result<PathBuf> {
    let path = PathBuf::from(name);
    if name.is_empty()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        bail!("drive file name `{name}` is not a plain relative path");
    }
    Ok(path)
}

async fn download(client: &Client, drive: &str, file: &str, to: &Path) -> Result<()> {
    let rest = format!("{}/files/download?name={}", enc(drive), enc(file));
    let response = client
        .send(Api::Drive, Method::GET, &rest, Bytes::new())
        .await;
    if response.status() != StatusCode::OK {
        bail!(
            "downloading `{file}` from drive `{drive}`: {}",
            response.status()
        );
    }
    let mut out = create(to).await?;
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| anyhow::anyhow!("downloading `{file}`: {e}"))?;
        if let Some(data) = frame.data_ref() {
            out.write_all(data).await?;
        }
    }
    out.flush().await?;
    Ok(())
}

async fn create(path: &Path) -> Result<tokio::fs::File> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    tokio::fs::File::create(path)
        .await
        .with_context(|| format!("creating {}", path.display()))
}

async fn import(client: &Client, dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        bail!(
            "{} is not a directory written by `data export`",
            dir.display()
        );
    }
    for (name, path) in entries(&dir.join("base"))? {
        let Some(name) = name.strip_suffix(".jsonl") else {
            continue;
        };
        let n = import_base(client, name, &path).await?;
        eprintln!("base `{name}`: {n} items");
    }
    for (name, path) in entries(&dir.join("drive"))? {
        let mut files = Vec::new();
        walk(&path, &path, &mut files)?;
        for (file, from) in &files {
            upload(client, &name, file, from).await?;
        }
        eprintln!("drive `{name}`: {} files", files.len());
    }
    Ok(())
}

/// The entries of `dir` by name; none when it does not exist.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in read {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    out.sort();
    Ok(out)
}

/// Every regular file under `dir`, with its name relative to `root` (`/`-separated).
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for (_, path) in entries(dir)? {
        let kind = std::fs::symlink_metadata(&path)?.file_type();
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).expect("under root");
            let name: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((name.join("/"), path));
        }
    }
    Ok(())
}

async fn import_base(client: &Client, name: &str, path: &Path) -> Result<u64> {
    let text = tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    let items: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a JSON item", path.display(), i + 1))
        })
        .collect::<Result<_>>()?;
    for batch in items.chunks(PUT_BATCH) {
        let body = json!({ "items": batch });
        client
            .json(
                Api::Base,
                Method::PUT,
                &format!("{}/items", enc(name)),
                Bytes::from(body.to_string()),
                StatusCode::MULTI_STATUS,
            )
            .await?;
    }
    Ok(items.len() as u64)
}

async fn upload(client: &Client, drive: &str, file: &str, from: &Path) -> Result<()> {
    let (d, f) = (enc(drive), enc(file));
    let started = client
        .json(
            Api::Drive,
            Method::POST,
            &format!("{d}/uploads?name={f}"),
            Bytes::new(),
            StatusCode::ACCEPTED,
        )
        .await?;
    let id = started["upload_id"]
        .as_str()
        .context("no upload_id")?
        .to_string();
    let mut input = tokio::fs::File::open(from)
        .await
        .with_context(|| format!("opening {}", from.display()))?;
    let mut part = 1;
    loop {
        let mut chunk = Vec::with_capacity(PART_BYTES);
        (&mut input)
            .take(PART_BYTES as u64)
            .read_to_end(&mut chunk)
            .await?;
        if chunk.is_empty() {
            break;
        }
        let rest = format!("{d}/uploads/{id}/parts?name={f}&part={part}");
        client
            .json(
                Api::Drive,
                Method::POST,
                &rest,
                Bytes::from(chunk),
                StatusCode::OK,
            )
            .await?;
        part += 1;
    }
    let rest = format!("{d}/uploads/{id}?name={f}");
    client
        .json(
            Api::Drive,
            Method::PATCH,
            &rest,
            Bytes::new(),
            StatusCode::OK,
        )
        .await?;
    Ok(())
}
