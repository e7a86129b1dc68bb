//! Unit tests of `drive`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::deta::fake::Fake;

const ROOT: &str = "https://drive.deta.sh/v1/proj/photos";

fn setup() -> (Drive, Arc<Fake>) {
    let fake = Fake::new();
    let mut drive = Drive::with_key("photos", "proj_s3cr3t")
        .unwrap()
        .with_host(DEFAULT_HOST);
    drive.service.set_transport(fake.clone());
    (drive, fake)
}

fn started(fake: &Fake) {
    fake.answer(
        202,
        r#"{"name":"big.bin","upload_id":"up/1","project_id":"proj","drive_name":"photos"}"#,
    );
}

#[test]
fn small_put_is_one_post() {
    let (drive, fake) = setup();
    fake.answer(
        201,
        r#"{"name":"a b/c.txt","project_id":"proj","drive_name":"photos"}"#,
    );
    let name = drive
        .put("a b/c.txt", b"hello", Some("text/plain"))
        .unwrap();
    assert_eq!(name, "a b/c.txt");
    let request = &fake.requests()[0];
    assert_eq!(request.method, Method::Post);
    assert_eq!(request.url, format!("{ROOT}/files?name=a%20b%2Fc.txt"));
    assert_eq!(request.header_value("content-type"), Some("text/plain"));
    assert_eq!(request.header_value("x-api-key"), Some("proj_s3cr3t"));
    assert_eq!(request.body, b"hello");

    fake.answer(201, r#"{"name":"empty"}"#);
    drive.put("empty", b"", None).unwrap();
    let request = &fake.requests()[1];
    assert_eq!(request.header_value("content-type"), None);
    assert!(request.body.is_empty());
}

#[test]
fn big_put_is_chunked_in_10_mib_parts() {
    let (drive, fake) = setup();
    let data: Vec<u8> = (0..25 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    started(&fake);
    for _ in 0..3 {
        fake.answer(200, r#"{"part":1}"#);
    }
    fake.answer(200, r#"{"name":"big.bin"}"#);
    drive
        .put("big.bin", &data, Some("application/x-big"))
        .unwrap();
    assert_eq!(
        fake.calls(),
        [
            format!("POST {ROOT}/uploads?name=big.bin"),
            format!("POST {ROOT}/uploads/up%2F1/parts?name=big.bin&part=1"),
            format!("POST {ROOT}/uploads/up%2F1/parts?name=big.bin&part=2"),
            format!("POST {ROOT}/uploads/up%2F1/parts?name=big.bin&part=3"),
            format!("PATCH {ROOT}/uploads/up%2F1?name=big.bin"),
        ]
    );
    let requests = fake.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| r.body.len()).collect();
    assert_eq!(sizes, [0, PART_SIZE, PART_SIZE, 5 * 1024 * 1024, 0]);
    let joined: Vec<u8> = requests[1..4].iter().flat_map(|r| r.body.clone()).collect();
    assert_eq!(joined, data);
    assert_eq!(
        requests[2].header_value("content-type"),
        Some("application/x-big")
    );
}

#[test]
fn put_reader_streams_parts_and_uses_one_request_when_small() {
    let (drive, fake) = setup();
    fake.answer(201, "{}");
    drive.put_reader("s.txt", &b"small"[..], None).unwrap();
    assert_eq!(fake.calls(), [format!("POST {ROOT}/files?name=s.txt")]);

    // Exactly one part: start, part 1, finish.
    let (drive, fake) = setup();
    started(&fake);
    fake.answer(200, "{}");
    fake.answer(200, "{}");
    drive
        .put_reader("big.bin", io::repeat(7).take(PART_SIZE as u64), None)
        .unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls[1].ends_with("part=1"));
    assert!(calls[2].starts_with("PATCH"));
}

#[test]
fn failed_part_aborts_the_upload() {
    let (drive, fake) = setup();
    started(&fake);
    fake.answer(200, "{}");
    fake.answer(400, r#"{"errors":["part too small"]}"#);
    fake.answer(200, "{}"); // the abort
    let data = vec![1u8; 2 * PART_SIZE + 10];
    let error = drive.put("big.bin", &data, None).unwrap_err();
    assert_eq!(error, Error::BadRequest(vec!["part too small".into()]));
    let calls = fake.calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(
        calls[3],
        format!("DELETE {ROOT}/uploads/up%2F1?name=big.bin")
    );
}

#[test]
fn read_error_aborts_the_upload() {
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
    }
    let (drive, fake) = setup();
    started(&fake);
    fake.answer(200, "{}"); // part 1
    fake.answer(200, "{}"); // the abort
    let error = drive
        .put_reader("big.bin", Broken(PART_SIZE), None)
        .unwrap_err();
    assert!(
        matches!(&error, Error::Io(why) if why.contains("disk on fire")),
        "{error}"
    );
    assert!(fake.calls()[2].starts_with("DELETE"));

    // A failure before anything was started sends nothing.
    let (drive, fake) = setup();
    assert!(matches!(
        drive.put_reader("x", Broken(0), None),
        Err(Error::Io(_))
    ));
    assert!(fake.calls().is_empty());
}

#[test]
fn get() {
    let (drive, fake) = setup();
    fake.answer(200, "bytes");
    assert_eq!(drive.get("a+b.txt").unwrap().unwrap(), b"bytes");
    assert_eq!(
        fake.calls(),
        [format!("GET {ROOT}/files/download?name=a%2Bb.txt")]
    );
    assert_eq!(fake.requests()[0].max_response_body, MAX_GET);
    fake.answer(404, r#"{"errors":["Not found"]}"#);
    assert_eq!(drive.get("nope").unwrap(), None);
    assert!(matches!(drive.get(""), Err(Error::Invalid(_))));
    assert!(matches!(drive.get("dir/"), Err(Error::Invalid(_))));
}

#[test]
fn get_range() {
    let (drive, fake) = setup();
    fake.answer(206, "bcd");
    assert_eq!(drive.get_range("f", 1..4).unwrap().unwrap(), b"bcd");
    fake.answer(206, "ef");
    drive.get_range("f", 4..).unwrap();
    fake.answer(206, "a");
    drive.get_range("f", ..=0).unwrap();
    let ranges: Vec<_> = fake
        .requests()
        .iter()
        .map(|r| r.header_value("range").unwrap().to_string())
        .collect();
    assert_eq!(ranges, ["bytes=1-3", "bytes=4-", "bytes=0-0"]);

    // A service that ignores Range: the part is cut out.
    fake.answer(200, "abcdef");
    assert_eq!(drive.get_range("f", 2..4).unwrap().unwrap(), b"cd");
    fake.answer(200, "abcdef");
    assert_eq!(drive.get_range("f", 4..100).unwrap().unwrap(), b"ef");
    fake.answer(200, "abc");
    assert_eq!(drive.get_range("f", 10..).unwrap().unwrap(), b"");

    fake.answer(416, "");
    assert_eq!(drive.get_range("f", 10..).unwrap().unwrap(), b"");
    fake.answer(404, "");
    assert_eq!(drive.get_range("f", 0..1).unwrap(), None);
    assert!(matches!(drive.get_range("f", 3..3), Err(Error::Invalid(_))));
    assert!(matches!(drive.get_range("f", 0..0), Err(Error::Invalid(_))));
}

#[test]
fn open_streams() {
    let (drive, fake) = setup();
    fake.answer_with(
        200,
        vec![("content-type", "image/png"), ("content-length", "4")],
        b"\x89PNG",
    );
    let mut download = drive.open("cat.png").unwrap().unwrap();
    assert_eq!(download.content_type.as_deref(), Some("image/png"));
    assert_eq!(download.content_length, Some(4));
    let mut bytes = Vec::new();
    download.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"\x89PNG");
    fake.answer(404, "");
    assert!(drive.open("dog.png").unwrap().is_none());
    fake.answer(500, "oops");
    assert_eq!(
        drive.open("x").unwrap_err(),
        Error::Http(500, "oops".into())
    );
}

#[test]
fn list() {
    let (drive, fake) = setup();
    fake.answer(
        200,
        r#"{"paging":{"size":2,"last":"b/2"},"names":["b/1","b/2"]}"#,
    );
    let page = drive.list("b/", Some(2), None).unwrap();
    assert_eq!(page.names, ["b/1", "b/2"]);
    assert_eq!(page.last.as_deref(), Some("b/2"));
    fake.answer(200, r#"{"paging":{"size":0},"names":[]}"#);
    let page = drive.list("", None, Some("b/2 x")).unwrap();
    assert_eq!(page, List::default());
    assert_eq!(
        fake.calls(),
        [
            format!("GET {ROOT}/files?limit=2&prefix=b%2F"),
            format!("GET {ROOT}/files?limit=1000&last=b%2F2%20x"),
        ]
    );
}

#[test]
fn list_all_follows_last() {
    let (drive, fake) = setup();
    fake.answer(200, r#"{"paging":{"size":1,"last":"a"},"names":["a"]}"#);
    fake.answer(200, r#"{"paging":{"size":1},"names":["b"]}"#);
    assert_eq!(drive.list_all("").unwrap(), ["a", "b"]);
    assert!(fake.calls()[1].ends_with("&last=a"));
}

#[test]
fn delete_many_and_delete() {
    let (drive, fake) = setup();
    fake.answer(200, r#"{"deleted":["a","b"],"failed":{"c":"locked"}}"#);
    let result = drive.delete_many(["a", "b", "c"]).unwrap();
    assert_eq!(result.deleted, ["a", "b"]);
    assert_eq!(result.failed["c"], "locked");
    let request = &fake.requests()[0];
    assert_eq!(request.method, Method::Delete);
    assert_eq!(request.url, format!("{ROOT}/files"));
    assert_eq!(
        request.header_value("content-type"),
        Some("application/json")
    );
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, json!({ "names": ["a", "b", "c"] }));

    fake.answer(200, r#"{"deleted":["x"]}"#);
    drive.delete("x").unwrap();
    fake.answer(200, r#"{"deleted":[],"failed":{"y":"locked"}}"#);
    assert!(matches!(drive.delete("y"), Err(Error::Response(why)) if why.contains("locked")));

    let too_many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    assert!(matches!(
        drive.delete_many(&too_many),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        drive.delete_many(Vec::<String>::new()),
        Err(Error::Invalid(_))
    ));
}
