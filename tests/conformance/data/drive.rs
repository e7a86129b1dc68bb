//! Deta Drive served by micro-wasm (SPEC §11), on both stores: every operation from outside and
//! from a guest (small puts, chunked uploads past the payload limit, ranges, empty files,
//! listing, hostile names, bulk delete) and the app's Drive cap.

use bytes::Bytes;
use serde_json::json;

use super::{Data, Store, WAYS, Way, assert_errors};
use crate::harness::probe_app;

async fn drive_operations_from_outside_and_from_a_guest(store: Store) {
    // Each request stays under the payload limit; the file does not.
    let app = probe_app("payload = \"3MB\"\ntimeout = \"10s\"", "");
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    for way in WAYS {
        let drive = format!("{way:?}").to_lowercase();
        let call = |method: &'static str,
                    rest: String,
                    body: Bytes,
                    headers: &'static [(&'static str, &'static str)]| {
            let d = &d;
            async move {
                d.call_with(way, "drive", method, &rest, body, headers)
                    .await
            }
        };
        // A small put with its content type; download with Accept-Ranges.
        let r = call(
            "POST",
            format!("{drive}/files?name=notes/a.txt"),
            Bytes::from_static(b"hello drive"),
            &[("content-type", "text/plain")],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.json()["name"], "notes/a.txt");
        let r = call(
            "GET",
            format!("{drive}/files/download?name=notes/a.txt"),
            Bytes::new(),
            &[],
        )
        .await;
        assert_eq!((r.status, r.body.as_ref()), (200, &b"hello drive"[..]));
        assert_eq!(r.headers["accept-ranges"], "bytes");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        // A ranged download.
        let r = call(
            "GET",
            format!("{drive}/files/download?name=notes/a.txt"),
            Bytes::new(),
            &[("range", "bytes=6-10")],
        )
        .await;
        assert_eq!((r.status, r.body.as_ref()), (206, &b"drive"[..]));
        assert_eq!(r.headers["content-range"], "bytes 6-10/11");
        // A chunked upload of 6 MB in two parts, above the 3 MB payload limit per request.
        let r = call(
            "POST",
            format!("{drive}/uploads?name=big.bin"),
            Bytes::new(),
            &[],
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text());
        let id = r.json()["upload_id"].as_str().unwrap().to_string();
        let part = |seed: u8| {
            Bytes::from(
                (0..2_900_000u32)
                    .map(|i| (i % 251) as u8 ^ seed)
                    .collect::<Vec<u8>>(),
            )
        };
        for (n, seed) in [(1, 1u8), (2, 2u8), (3, 3u8)] {
            let r = call(
                "POST",
                format!("{drive}/uploads/{id}/parts?name=big.bin&part={n}"),
                part(seed),
                &[],
            )
            .await;
            assert_eq!(r.status, 200, "part {n}: {}", r.text());
        }
        let r = call(
            "PATCH",
            format!("{drive}/uploads/{id}?name=big.bin"),
            Bytes::new(),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = call(
            "GET",
            format!("{drive}/files/download?name=big.bin"),
            Bytes::new(),
            &[("range", "bytes=2899999-2900001")],
        )
        .await;
        assert_eq!(r.status, 206);
        assert_eq!(
            r.body.as_ref(),
            &[part(1)[2_899_999], part(2)[0], part(2)[1]]
        );
        if way == Way::Outside {
            let r = call(
                "GET",
                format!("{drive}/files/download?name=big.bin"),
                Bytes::new(),
                &[],
            )
            .await;
            assert_eq!(r.body.len(), 3 * 2_900_000);
        }
        // An empty file: start, no parts, finish.
        let r = call(
            "POST",
            format!("{drive}/uploads?name=empty"),
            Bytes::new(),
            &[],
        )
        .await;
        let id = r.json()["upload_id"].as_str().unwrap().to_string();
        let r = call(
            "PATCH",
            format!("{drive}/uploads/{id}?name=empty"),
            Bytes::new(),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = call(
            "GET",
            format!("{drive}/files/download?name=empty"),
            Bytes::new(),
            &[],
        )
        .await;
        assert_eq!((r.status, r.body.len()), (200, 0));
        // Listing with a prefix and paging.
        let r = call("GET", format!("{drive}/files?limit=2"), Bytes::new(), &[]).await;
        let page = r.json();
        assert_eq!(page["names"], json!(["big.bin", "empty"]), "{page}");
        let last = page["paging"]["last"].as_str().unwrap().to_string();
        let r = call(
            "GET",
            format!("{drive}/files?limit=2&last={last}"),
            Bytes::new(),
            &[],
        )
        .await;
        assert_eq!(r.json()["names"], json!(["notes/a.txt"]));
        let r = call(
            "GET",
            format!("{drive}/files?prefix=notes/"),
            Bytes::new(),
            &[],
        )
        .await;
        assert_eq!(r.json()["names"], json!(["notes/a.txt"]));
        // Hostile names are 400; an unknown upload is 404; a missing file is 404.
        for name in ["../x", "a/../../b", "dir/"] {
            let r = call(
                "POST",
                format!("{drive}/files?name={name}"),
                Bytes::from_static(b"x"),
                &[],
            )
            .await;
            assert_errors(&r, 400, "");
        }
        let r = call(
            "POST",
            format!("{drive}/uploads/nosuch/parts?name=x&part=1"),
            Bytes::from_static(b"x"),
            &[],
        )
        .await;
        assert_errors(&r, 404, "");
        let r = call(
            "GET",
            format!("{drive}/files/download?name=gone"),
            Bytes::new(),
            &[],
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.text());
        // Bulk delete; an absent name counts as deleted.
        let r = call(
            "DELETE",
            format!("{drive}/files"),
            Bytes::from(json!({"names": ["empty", "never"]}).to_string()),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["deleted"], json!(["empty", "never"]));
    }
}

async fn the_drive_cap_is_a_413_naming_it(store: Store) {
    let app = probe_app("drive = \"1MB\"", "");
    let Some(args) = store.args(&app) else {
        return;
    };
    let d = Data::start(&app, &args).await;
    let r = d
        .call_with(
            Way::Outside,
            "drive",
            "POST",
            "d/files?name=a",
            vec![0u8; 700_000],
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d
        .call_with(
            Way::Outside,
            "drive",
            "POST",
            "d/files?name=b",
            vec![0u8; 700_000],
            &[],
        )
        .await;
    assert_errors(&r, 413, "1000000");
    let r = d.srv.get("/__space/status").await.json();
    assert_eq!(r["data"]["drives"][0]["files"], 1, "{r}");
}

both_stores!(
    drive_operations_from_outside_and_from_a_guest,
    the_drive_cap_is_a_413_naming_it
);
