//! Drive tests through [`DataService::handle`] on both stores (see `mod.rs`), with bodies of
//! several MB sent as many frames: small puts, chunked uploads (several parts, zero parts),
//! abort, ranged downloads, listing, bulk delete, the cap, hostile names, durability.

use bytes::Bytes;
use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::{Answer, Backend, PID, Place, frames, on_both_stores, request, send};
use crate::data::*;

const MB: usize = 1 << 20;

/// `len` bytes of a pattern that shows misplaced bytes.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + i / 251) as u8).wrapping_add(seed))
        .collect()
}

/// `data` as frames of at most 300 KB.
fn framed(data: &[u8]) -> Vec<Bytes> {
    data.chunks(300 * 1024)
        .map(Bytes::copy_from_slice)
        .collect()
}

async fn drive(svc: &DataService, method: Method, path_query: &str, body: Vec<Bytes>) -> Answer {
    let uri = format!("/v1/{PID}/files-drive{path_query}");
    send(svc, Api::Drive, request(method, &uri, frames(body))).await
}

async fn put_file(svc: &DataService, name: &str, data: &[u8]) -> Answer {
    drive(
        svc,
        Method::POST,
        &format!("/files?name={name}"),
        framed(data),
    )
    .await
}

async fn get_file(svc: &DataService, name: &str, range: Option<&str>) -> Answer {
    let uri = format!("/v1/{PID}/files-drive/files/download?name={name}");
    let mut req = request(Method::GET, &uri, frames(vec![]));
    if let Some(range) = range {
        req.headers_mut()
            .insert(header::RANGE, range.parse().unwrap());
    }
    send(svc, Api::Drive, req).await
}

async fn upload(
    svc: &DataService,
    name: &str,
    parts: &[&[u8]],
    content_type: Option<&str>,
) -> String {
    let mut req = request(
        Method::POST,
        &format!("/v1/{PID}/files-drive/uploads?name={name}"),
        frames(vec![]),
    );
    if let Some(ct) = content_type {
        req.headers_mut()
            .insert(header::CONTENT_TYPE, ct.parse().unwrap());
    }
    let a = send(svc, Api::Drive, req).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let id = a.json()["upload_id"].as_str().unwrap().to_owned();
    assert_eq!(
        a.json(),
        json!({"name": a.json()["name"], "upload_id": id, "project_id": PID, "drive_name": "files-drive"})
    );
    for (i, part) in parts.iter().enumerate() {
        let a = drive(
            svc,
            Method::POST,
            &format!("/uploads/{id}/parts?name={name}&part={}", i + 1),
            framed(part),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        assert_eq!(a.json()["part"], i + 1);
    }
    id
}

fn header_of(a: &Answer, name: header::HeaderName) -> String {
    a.headers.get(name).unwrap().to_str().unwrap().to_owned()
}

async fn small_put_and_streamed_download(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let data = content(3 * MB + 12345, 1);
    let a = put_file(&svc, "pics/cat%20one.png", &data).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(
        a.json(),
        json!({"name":"pics/cat one.png","project_id":PID,"drive_name":"files-drive"})
    );

    let a = get_file(&svc, "pics%2Fcat+one.png", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body.as_ref(), &data[..]);
    assert!(a.frames >= 4, "streamed in {} frames", a.frames);
    assert_eq!(header_of(&a, header::CONTENT_TYPE), "image/png");
    assert_eq!(header_of(&a, header::ACCEPT_RANGES), "bytes");
    assert_eq!(
        header_of(&a, header::CONTENT_LENGTH),
        data.len().to_string()
    );

    // Replacing frees the old bytes.
    put_file(&svc, "pics/cat%20one.png", b"tiny").await;
    assert_eq!(
        get_file(&svc, "pics/cat%20one.png", None)
            .await
            .body
            .as_ref(),
        b"tiny"
    );
    let summary = svc.summary().await.unwrap();
    assert_eq!(
        summary.drives,
        vec![DriveSummary {
            name: "files-drive".into(),
            files: 1,
            bytes: 4
        }]
    );
    assert_eq!(summary.drive_bytes, 4);

    let a = get_file(&svc, "nothing.txt", None).await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::NOT_FOUND, json!({"errors":["File not found"]}))
    );
    // Over 10 MB in a small put: 413, nothing stored.
    let a = put_file(&svc, "big.bin", &content(10 * MB + 1, 2)).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(svc.summary().await.unwrap().drive_bytes, 4);
}

async fn chunked_upload_and_ranges(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let parts = [
        content(2 * MB + 100, 3),
        content(2 * MB + 7, 4),
        content(999, 5),
    ];
    let whole: Vec<u8> = parts.concat();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let id = upload(&svc, "docs/report.bin", &refs, Some("application/x-report")).await;
    // Not visible before it is finished.
    assert_eq!(
        get_file(&svc, "docs/report.bin", None).await.status,
        StatusCode::NOT_FOUND
    );
    let a = drive(
        &svc,
        Method::PATCH,
        &format!("/uploads/{id}?name=docs/report.bin"),
        vec![],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["upload_id"], id);

    let a = get_file(&svc, "docs/report.bin", None).await;
    assert_eq!(a.body.as_ref(), &whole[..]);
    assert_eq!(header_of(&a, header::CONTENT_TYPE), "application/x-report");

    let size = whole.len();
    let (a0, b0) = (MB - 10, 2 * MB + 200);
    let a = get_file(&svc, "docs/report.bin", Some(&format!("bytes={a0}-{b0}"))).await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.body.as_ref(), &whole[a0..=b0]);
    assert_eq!(
        header_of(&a, header::CONTENT_RANGE),
        format!("bytes {a0}-{b0}/{size}")
    );
    assert_eq!(
        header_of(&a, header::CONTENT_LENGTH),
        (b0 - a0 + 1).to_string()
    );
    let a = get_file(&svc, "docs/report.bin", Some("bytes=-1500")).await;
    assert_eq!(a.body.as_ref(), &whole[size - 1500..]);
    assert_eq!(
        header_of(&a, header::CONTENT_RANGE),
        format!("bytes {}-{}/{size}", size - 1500, size - 1)
    );
    let a = get_file(
        &svc,
        "docs/report.bin",
        Some(&format!("bytes={}-", size - 1)),
    )
    .await;
    assert_eq!(a.body.as_ref(), &whole[size - 1..]);
    let a = get_file(&svc, "docs/report.bin", Some(&format!("bytes={size}-"))).await;
    assert_eq!(a.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header_of(&a, header::CONTENT_RANGE),
        format!("bytes */{size}")
    );

    // The finished upload is gone.
    let a = drive(
        &svc,
        Method::PATCH,
        &format!("/uploads/{id}?name=docs/report.bin"),
        vec![],
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (
            StatusCode::NOT_FOUND,
            json!({"errors":["Upload not found"]})
        )
    );
}

async fn zero_parts_abort_and_bad_uploads(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    let id = upload(&svc, "empty.txt", &[], None).await;
    assert_eq!(
        drive(
            &svc,
            Method::PATCH,
            &format!("/uploads/{id}?name=empty.txt"),
            vec![]
        )
        .await
        .status,
        StatusCode::OK
    );
    let a = get_file(&svc, "empty.txt", None).await;
    assert_eq!((a.status, a.body.len()), (StatusCode::OK, 0));
    assert_eq!(header_of(&a, header::CONTENT_TYPE), "text/plain");
    assert_eq!(header_of(&a, header::CONTENT_LENGTH), "0");
    assert_eq!(
        get_file(&svc, "empty.txt", Some("bytes=0-")).await.status,
        StatusCode::RANGE_NOT_SATISFIABLE
    );

    let id = upload(&svc, "gone.bin", &[&content(MB + 5, 6)], None).await;
    assert!(svc.summary().await.unwrap().drive_bytes > MB as u64);
    let a = drive(
        &svc,
        Method::DELETE,
        &format!("/uploads/{id}?name=gone.bin"),
        vec![],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(svc.summary().await.unwrap().drive_bytes, 0);
    assert_eq!(
        drive(
            &svc,
            Method::PATCH,
            &format!("/uploads/{id}?name=gone.bin"),
            vec![]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_file(&svc, "gone.bin", None).await.status,
        StatusCode::NOT_FOUND
    );

    let a = drive(
        &svc,
        Method::POST,
        "/uploads/nosuchid/parts?name=x&part=1",
        vec![Bytes::from_static(b"x")],
    )
    .await;
    assert_eq!(
        (a.status, a.json()),
        (
            StatusCode::NOT_FOUND,
            json!({"errors":["Upload not found"]})
        )
    );
    let id = upload(&svc, "p.bin", &[], None).await;
    for q in [
        "name=p.bin&part=0",
        "name=p.bin",
        "name=p.bin&part=x",
        "name=other.bin&part=1",
    ] {
        let a = drive(
            &svc,
            Method::POST,
            &format!("/uploads/{id}/parts?{q}"),
            vec![Bytes::from_static(b"x")],
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
    }
    let a = drive(
        &svc,
        Method::POST,
        &format!("/uploads/{id}/parts?name=p.bin&part=1"),
        framed(&content(10 * MB + 1, 0)),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A retried part replaces the first attempt.
    drive(
        &svc,
        Method::POST,
        &format!("/uploads/{id}/parts?name=p.bin&part=1"),
        vec![Bytes::from_static(b"first")],
    )
    .await;
    drive(
        &svc,
        Method::POST,
        &format!("/uploads/{id}/parts?name=p.bin&part=1"),
        vec![Bytes::from_static(b"again")],
    )
    .await;
    drive(
        &svc,
        Method::PATCH,
        &format!("/uploads/{id}?name=p.bin"),
        vec![],
    )
    .await;
    assert_eq!(get_file(&svc, "p.bin", None).await.body.as_ref(), b"again");
    assert_eq!(svc.summary().await.unwrap().drive_bytes, 5);
}

async fn list_and_delete(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    for name in ["a/1", "a/2", "a/3", "a/4", "a/5", "b/1", "ab"] {
        assert_eq!(
            put_file(&svc, name, name.as_bytes()).await.status,
            StatusCode::CREATED
        );
    }
    let mut names = Vec::new();
    let mut last = String::new();
    loop {
        let a = drive(
            &svc,
            Method::GET,
            &format!("/files?prefix=a/&recursive=true&limit=2&last={last}"),
            vec![],
        )
        .await;
        let page = a.json();
        names.extend(
            page["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned()),
        );
        match page["paging"].get("last") {
            Some(l) => last = l.as_str().unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(names, ["a/1", "a/2", "a/3", "a/4", "a/5"]);
    let page = drive(
        &svc,
        Method::GET,
        "/files?prefix=&last=&recursive=true&limit=1000",
        vec![],
    )
    .await
    .json();
    assert_eq!(
        page,
        json!({"paging":{"size":7},"names":["a/1","a/2","a/3","a/4","a/5","ab","b/1"]})
    );
    let page = drive(&svc, Method::GET, "/files", vec![]).await.json();
    assert_eq!(page["paging"]["size"], 7);
    assert_eq!(
        drive(&svc, Method::GET, "/files?limit=0", vec![])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let body = serde_json::to_vec(&json!({"names":["a/1","b/1","absent","bad/"]})).unwrap();
    let a = drive(&svc, Method::DELETE, "/files", vec![body.into()]).await;
    assert_eq!(a.status, StatusCode::OK);
    let answer = a.json();
    assert_eq!(answer["deleted"], json!(["a/1", "b/1", "absent"]));
    assert!(answer["failed"]["bad/"].is_string());
    let page = drive(&svc, Method::GET, "/files", vec![]).await.json();
    assert_eq!(page["names"], json!(["a/2", "a/3", "a/4", "a/5", "ab"]));

    let many: Vec<String> = (0..1001).map(|i| format!("f{i}")).collect();
    for body in [
        json!({"names": many}),
        json!({"names": []}),
        json!({"names": [1]}),
        json!([]),
    ] {
        let a = drive(
            &svc,
            Method::DELETE,
            "/files",
            vec![serde_json::to_vec(&body).unwrap().into()],
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
}

async fn cap_is_enforced(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let cap = 3 * MB as u64;
    let svc = place.open(cap).await;
    assert_eq!(
        put_file(&svc, "one", &content(2 * MB, 1)).await.status,
        StatusCode::CREATED
    );
    let a = put_file(&svc, "two", &content(2 * MB, 2)).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    let message = a.json()["errors"][0].as_str().unwrap().to_owned();
    assert!(message.contains(&cap.to_string()), "{message}");
    assert_eq!(
        get_file(&svc, "two", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(svc.summary().await.unwrap().drive_bytes, 2 * MB as u64);
    // A part that would pass the cap is refused too.
    let id = upload(&svc, "three", &[&content(MB / 2, 3)], None).await;
    let a = drive(
        &svc,
        Method::POST,
        &format!("/uploads/{id}/parts?name=three&part=2"),
        framed(&content(MB, 4)),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    let body = serde_json::to_vec(&json!({"names":["one"]})).unwrap();
    drive(&svc, Method::DELETE, "/files", vec![body.into()]).await;
    assert_eq!(svc.summary().await.unwrap().drive_bytes, MB as u64 / 2);
    let a = drive(
        &svc,
        Method::POST,
        &format!("/uploads/{id}/parts?name=three&part=2"),
        framed(&content(MB, 4)),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

async fn hostile_names(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let svc = place.open(1 << 30).await;
    for name in [
        "",
        "a/",
        "..%2Fx",
        "a/../b",
        "%2Fabs",
        "a%00b",
        "%ZZ",
        &"n".repeat(1025),
    ] {
        let a = put_file(&svc, name, b"x").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{name}");
        let a = get_file(&svc, name, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{name}");
    }
    let a = drive(&svc, Method::POST, "/files", vec![Bytes::from_static(b"x")]).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = send(
        &svc,
        Api::Drive,
        request(
            Method::GET,
            &format!("/v1/{PID}/..%2F/files"),
            frames(vec![]),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(svc.summary().await.unwrap().drives, vec![]);
    assert_eq!(
        drive(&svc, Method::PUT, "/files", vec![]).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        drive(&svc, Method::GET, "/nope", vec![]).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn drive_durable_across_reopen(b: Backend) {
    let Some(place) = Place::new(b) else {
        return;
    };
    let data = content(2 * MB + 3, 9);
    let pending;
    {
        let svc = place.open(1 << 30).await;
        put_file(&svc, "kept.bin", &data).await;
        pending = upload(&svc, "later.bin", &[b"part one"], None).await;
    }
    let svc = place.open(1 << 30).await;
    assert_eq!(
        get_file(&svc, "kept.bin", None).await.body.as_ref(),
        &data[..]
    );
    // A pending upload survives too and can be finished after the restart.
    let a = drive(
        &svc,
        Method::PATCH,
        &format!("/uploads/{pending}?name=later.bin"),
        vec![],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        get_file(&svc, "later.bin", None).await.body.as_ref(),
        b"part one"
    );
    assert_eq!(
        svc.summary().await.unwrap().drive_bytes,
        data.len() as u64 + 8
    );
    let _: Value = json!(null);
}

on_both_stores!(
    small_put_and_streamed_download,
    chunked_upload_and_ranges,
    zero_parts_abort_and_bad_uploads,
    list_and_delete,
    cap_is_enforced,
    hostile_names,
    drive_durable_across_reopen
);
