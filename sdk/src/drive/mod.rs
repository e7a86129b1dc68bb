//! Deta Drive: file storage, served to Micros by micro-wasm.
//!
//! A [`Drive`] is a named set of files. Names are paths (`photos/cat.png`); folders exist
//! only through names. The calls are those of the deta SDKs (`put`, `get`, `list`, `delete`,
//! `delete_many`), made over `wasi:http` to `https://drive.deta.sh/v1/{project_id}/{name}`
//! with the Data Key from `DETA_PROJECT_KEY`; micro-wasm answers them itself. The host can be
//! changed with `DETA_DRIVE_HOST` (a host name, or a URL with its scheme) or
//! [`Drive::with_host`].
//!
//! ```no_run
//! use std::io::Read;
//! use micro_space::drive::Drive;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let photos = Drive::new("photos")?;
//!
//! photos.put("notes/hello.txt", b"hello", Some("text/plain"))?;
//! let big = std::fs::File::open("/app/big.bin")?;
//! photos.put_reader("big.bin", big, None)?; // 10 MiB at a time
//!
//! if let Some(bytes) = photos.get("notes/hello.txt")? {
//!     assert_eq!(bytes, b"hello");
//! }
//! let head = photos.get_range("big.bin", 0..1024)?; // the first KiB
//! if let Some(mut download) = photos.open("big.bin")? {
//!     let mut chunk = vec![0; 64 * 1024];
//!     while download.read(&mut chunk)? > 0 { /* ... */ }
//! }
//!
//! let page = photos.list("notes/", None, None)?;
//! println!("{:?}, more after {:?}", page.names, page.last);
//! photos.delete("notes/hello.txt")?;
//! # let _ = head;
//! # Ok(())
//! # }
//! ```
//!
//! Uploads: data under [`PART_SIZE`] (10 MiB) goes in one `POST /files`; larger data is
//! uploaded in parts of 10 MiB (start, parts, finish), and the upload is aborted if a part
//! fails. [`Drive::put_reader`] reads its source one part at a time, so a file of any size
//! needs no more than one part in memory; [`Drive::open`] and [`Drive::get_range`] read
//! files without holding them whole.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::ops::{Bound, RangeBounds};

use serde::Deserialize;

use crate::client::{Request, Response};
use crate::deta::{Service, encode, json_body, unexpected};
use crate::{BodyReader, Method};

pub use crate::deta::Error;

/// The size of an upload part, as in the deta SDKs: 10 MiB. Smaller data is put in one
/// request.
pub const PART_SIZE: usize = 10 * 1024 * 1024;
/// The most names one `delete_many` takes.
pub const DELETE_MANY_MAX: usize = 1000;
/// The page size the SDKs ask `list` for when none is given.
pub const DEFAULT_LIST_LIMIT: u32 = 1000;
/// The largest file [`Drive::get`] reads into memory: 1 GiB. Use [`Drive::open`] or
/// [`Drive::get_range`] for more.
pub const MAX_GET: usize = 1024 * 1024 * 1024;

/// The host used unless `DETA_DRIVE_HOST` or [`Drive::with_host`] says otherwise.
pub const DEFAULT_HOST: &str = "drive.deta.sh";
/// The variable that overrides the host, as in the deta SDKs.
pub const HOST_VAR: &str = "DETA_DRIVE_HOST";

/// A handle on one Drive. Cheap to clone; making one sends nothing.
#[derive(Debug, Clone)]
pub struct Drive {
    service: Service,
}

/// A page of `list` results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List {
    /// The names, in order.
    pub names: Vec<String>,
    /// Where the next page starts (pass it as `last`); `None` on the last page.
    pub last: Option<String>,
}

/// What `delete_many` did: the names deleted (absent ones count as deleted) and, by name,
/// why others were not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    pub deleted: Vec<String>,
    pub failed: BTreeMap<String, String>,
}

/// A file being downloaded, from [`Drive::open`]: read it with [`Read`], or answer a request
/// with it (`Response::from(download)`: 200, its type and length, the bytes spliced by the
/// host from the download to the response without entering guest memory).
pub struct Download {
    /// The `content-type` the service sent.
    pub content_type: Option<String>,
    /// The `content-length` the service sent.
    pub content_length: Option<u64>,
    body: BodyReader,
}

impl From<Download> for crate::Response {
    fn from(download: Download) -> Self {
        let content_type = download.content_type.as_deref();
        let mut response = crate::Response::stream(
            200,
            content_type.unwrap_or("application/octet-stream"),
            download.body,
        );
        if let Some(length) = download.content_length {
            response.set_header("content-length", &length.to_string());
        }
        response
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.body.read(buf)
    }
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("content_type", &self.content_type)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

impl Drive {
    /// The Drive `name`, with the Data Key from `DETA_PROJECT_KEY`. Fails with
    /// [`Error::Config`] if the variable is unset or not `<project_id>_<secret>`.
    pub fn new(name: &str) -> Result<Drive, Error> {
        Ok(Drive {
            service: Service::new("Drive", name, None, HOST_VAR, DEFAULT_HOST)?,
        })
    }

    /// The Drive `name` with an explicit Data Key.
    pub fn with_key(name: &str, key: &str) -> Result<Drive, Error> {
        Ok(Drive {
            service: Service::new("Drive", name, Some(key), HOST_VAR, DEFAULT_HOST)?,
        })
    }

    /// Talks to another host: a host name (`https` is used) or `http(s)://host[:port]`.
    pub fn with_host(mut self, host: &str) -> Drive {
        self.service.set_host(host);
        self
    }

    /// The Drive's name.
    pub fn name(&self) -> &str {
        self.service.name()
    }

    /// Stores a file, replacing any of the same name, and returns its name. `content_type`
    /// is sent as `Content-Type` (else the service guesses from the name).
    pub fn put(
        &self,
        name: &str,
        data: &[u8],
        content_type: Option<&str>,
    ) -> Result<String, Error> {
        check_name(name)?;
        if data.len() < PART_SIZE {
            return self.put_small(name, data.to_vec(), content_type);
        }
        let mut parts = data.chunks(PART_SIZE).map(|part| Ok(part.to_vec()));
        self.put_chunked(name, content_type, &mut parts)
    }

    /// Stores a file read from `reader`, one [`PART_SIZE`] part at a time, and returns its
    /// name. A reader that ends before [`PART_SIZE`] bytes is put in one request. A read
    /// error aborts the upload ([`Error::Io`]).
    pub fn put_reader(
        &self,
        name: &str,
        mut reader: impl Read,
        content_type: Option<&str>,
    ) -> Result<String, Error> {
        check_name(name)?;
        let first = read_part(&mut reader)?;
        if first.len() < PART_SIZE {
            return self.put_small(name, first, content_type);
        }
        let mut first = Some(first);
        let mut parts = std::iter::from_fn(|| {
            let part = match first.take() {
                Some(part) => Ok(part),
                None => read_part(&mut reader),
            };
            match part {
                Ok(part) if part.is_empty() => None,
                other => Some(other),
            }
        });
        self.put_chunked(name, content_type, &mut parts)
    }

    fn put_small(
        &self,
        name: &str,
        data: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<String, Error> {
        let request = with_content_type(
            self.service
                .request(Method::Post, &format!("/files?name={}", encode(name))),
            content_type,
        )
        .body(data);
        let response = self.service.send(request)?;
        expect_success(&response)?;
        Ok(name.to_string())
    }

    fn put_chunked(
        &self,
        name: &str,
        content_type: Option<&str>,
        parts: &mut dyn Iterator<Item = Result<Vec<u8>, Error>>,
    ) -> Result<String, Error> {
        let start = with_content_type(
            self.service
                .request(Method::Post, &format!("/uploads?name={}", encode(name))),
            content_type,
        );
        let response = self.service.send(start)?;
        expect_success(&response)?;
        #[derive(Deserialize)]
        struct Started {
            upload_id: String,
        }
        let Started { upload_id } = json_body(&response)?;

        let uploaded = self.upload_parts(name, &upload_id, content_type, parts);
        let finished = uploaded.and_then(|()| {
            let finish = self
                .service
                .request(Method::Patch, &upload_path(&upload_id, name));
            expect_success(&self.service.send(finish)?)
        });
        if let Err(error) = finished {
            // Best effort: the error to report is the one that stopped the upload.
            let abort = self
                .service
                .request(Method::Delete, &upload_path(&upload_id, name));
            let _ = self.service.send(abort);
            return Err(error);
        }
        Ok(name.to_string())
    }

    fn upload_parts(
        &self,
        name: &str,
        upload_id: &str,
        content_type: Option<&str>,
        parts: &mut dyn Iterator<Item = Result<Vec<u8>, Error>>,
    ) -> Result<(), Error> {
        for (index, part) in parts.enumerate() {
            let path = format!(
                "/uploads/{}/parts?name={}&part={}",
                encode(upload_id),
                encode(name),
                index + 1
            );
            let request =
                with_content_type(self.service.request(Method::Post, &path), content_type)
                    .body(part?);
            expect_success(&self.service.send(request)?)?;
        }
        Ok(())
    }

    /// The file's bytes, or `None` if there is no such file. At most [`MAX_GET`] bytes (else
    /// an error): use [`open`](Drive::open) or [`get_range`](Drive::get_range) for big files.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let request = self.download_request(name)?.max_response_body(MAX_GET);
        let response = self.service.send(request)?;
        match response.status {
            200 => Ok(Some(response.body)),
            404 => Ok(None),
            _ => Err(unexpected(&response)),
        }
    }

    /// Part of a file (`0..1024`, `1024..`, `..=99`: byte offsets), or `None` if there is no
    /// such file. Sent as an HTTP `Range`; a range past the end gives no bytes, one running
    /// past it the bytes up to the end. If the service ignores the range and sends the whole
    /// file, the part is cut from it.
    pub fn get_range(
        &self,
        name: &str,
        range: impl RangeBounds<u64>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let (start, end) = byte_range(&range)?;
        let header = match end {
            Some(end) => format!("bytes={start}-{end}"),
            None => format!("bytes={start}-"),
        };
        let request = self
            .download_request(name)?
            .header("Range", &header)
            .max_response_body(MAX_GET);
        let response = self.service.send(request)?;
        match response.status {
            206 => Ok(Some(response.body)),
            200 => {
                let body = response.body;
                let len = body.len() as u64;
                let from = start.min(len) as usize;
                let to = end.map_or(len, |end| end.saturating_add(1).min(len)) as usize;
                Ok(Some(body[from..to.max(from)].to_vec()))
            }
            416 => Ok(Some(Vec::new())),
            404 => Ok(None),
            _ => Err(unexpected(&response)),
        }
    }

    /// The file as a [`Download`] to read as it arrives, or `None` if there is no such file.
    pub fn open(&self, name: &str) -> Result<Option<Download>, Error> {
        let response = self.service.open(self.download_request(name)?)?;
        match response.status {
            200 => Ok(Some(Download {
                content_type: response.header("content-type").map(str::to_string),
                content_length: response
                    .header("content-length")
                    .and_then(|n| n.parse().ok()),
                body: response.body,
            })),
            404 => Ok(None),
            _ => {
                let response = response.into_response(64 * 1024)?;
                Err(unexpected(&response))
            }
        }
    }

    /// A page of file names, in order: those starting with `prefix` (`""` for all), at most
    /// `limit` ([`DEFAULT_LIST_LIMIT`] if `None`), after the name `last` (a previous page's
    /// [`List::last`]).
    pub fn list(
        &self,
        prefix: &str,
        limit: Option<u32>,
        last: Option<&str>,
    ) -> Result<List, Error> {
        let response = self.service.send(self.list_request(prefix, limit, last))?;
        if response.status != 200 {
            return Err(unexpected(&response));
        }
        #[derive(Deserialize, Default)]
        struct Paging {
            last: Option<String>,
        }
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            paging: Paging,
            #[serde(default)]
            names: Vec<String>,
        }
        let body: Body = json_body(&response)?;
        Ok(List {
            names: body.names,
            last: body.paging.last.filter(|last| !last.is_empty()),
        })
    }

    /// Every name starting with `prefix`, following `last` from page to page.
    pub fn list_all(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = self.list(prefix, None, last.as_deref())?;
            names.extend(page.names);
            match page.last {
                Some(next) if last.as_deref() != Some(next.as_str()) => last = Some(next),
                _ => return Ok(names),
            }
        }
    }

    /// Deletes a file; deleting an absent name succeeds too. If the service reports the
    /// name as failed: [`Error::Response`] with its reason.
    pub fn delete(&self, name: &str) -> Result<(), Error> {
        check_name(name)?;
        let result = self.delete_many([name])?;
        match result.failed.get(name) {
            Some(reason) => Err(Error::Response(format!(
                "could not delete {name:?}: {reason}"
            ))),
            None => Ok(()),
        }
    }

    /// Deletes up to [`DELETE_MANY_MAX`] files in one request.
    pub fn delete_many<S: AsRef<str>>(
        &self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Deleted, Error> {
        let names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_string()).collect();
        if names.is_empty() || names.len() > DELETE_MANY_MAX {
            return Err(Error::Invalid(format!(
                "delete_many takes 1 to {DELETE_MANY_MAX} names, not {}",
                names.len()
            )));
        }
        let request = self.service.json_request(
            Method::Delete,
            "/files",
            &serde_json::json!({ "names": names }),
        )?;
        let response = self.service.send(request)?;
        if response.status != 200 {
            return Err(unexpected(&response));
        }
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            deleted: Vec<String>,
            #[serde(default)]
            failed: Option<BTreeMap<String, String>>,
        }
        let body: Body = json_body(&response)?;
        Ok(Deleted {
            deleted: body.deleted,
            failed: body.failed.unwrap_or_default(),
        })
    }

    fn download_request(&self, name: &str) -> Result<Request, Error> {
        check_name(name)?;
        Ok(self.service.request(
            Method::Get,
            &format!("/files/download?name={}", encode(name)),
        ))
    }

    /// `/files?limit=L[&prefix=P][&last=N]`, as deta-python asks (values encoded).
    fn list_request(&self, prefix: &str, limit: Option<u32>, last: Option<&str>) -> Request {
        let mut path = format!("/files?limit={}", limit.unwrap_or(DEFAULT_LIST_LIMIT));
        if !prefix.is_empty() {
            path.push_str(&format!("&prefix={}", encode(prefix)));
        }
        if let Some(last) = last.filter(|l| !l.is_empty()) {
            path.push_str(&format!("&last={}", encode(last)));
        }
        self.service.request(Method::Get, &path)
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::Invalid("name is empty".into()));
    }
    if name.ends_with('/') {
        return Err(Error::Invalid(format!(
            "a name must not end with '/': {name:?}"
        )));
    }
    Ok(())
}

fn upload_path(upload_id: &str, name: &str) -> String {
    format!("/uploads/{}?name={}", encode(upload_id), encode(name))
}

fn with_content_type(request: Request, content_type: Option<&str>) -> Request {
    match content_type {
        Some(content_type) => request.header("Content-Type", content_type),
        None => request,
    }
}

fn expect_success(response: &Response) -> Result<(), Error> {
    if response.is_success() {
        Ok(())
    } else {
        Err(unexpected(response))
    }
}

/// Reads up to [`PART_SIZE`] bytes (fewer only at the end).
fn read_part(reader: &mut impl Read) -> Result<Vec<u8>, Error> {
    let mut part = Vec::new();
    reader
        .take(PART_SIZE as u64)
        .read_to_end(&mut part)
        .map_err(|e| Error::Io(e.to_string()))?;
    Ok(part)
}

/// The first byte and the last (inclusive, `None` for the end).
fn byte_range(range: &impl RangeBounds<u64>) -> Result<(u64, Option<u64>), Error> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => Some(e),
        Bound::Excluded(&0) => return Err(Error::Invalid("the range is empty".into())),
        Bound::Excluded(&e) => Some(e - 1),
        Bound::Unbounded => None,
    };
    match end {
        Some(end) if end < start => Err(Error::Invalid("the range is empty".into())),
        _ => Ok((start, end)),
    }
}

#[cfg(test)]
mod tests;
