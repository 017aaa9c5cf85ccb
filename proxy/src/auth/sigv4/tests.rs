use super::*;

// AWS's Signature Version 4 test suite, `get-vanilla` and `get-vanilla-query-order-key-case`
// (credential AKIDEXAMPLE, service `service`, 2015-08-30T12:36:00Z).
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn signed_by_suite(query: Option<&str>) -> String {
    let mut h = http::HeaderMap::new();
    h.insert("host", "example.amazonaws.com".parse().unwrap());
    h.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
    let req = Signed {
        method: "GET",
        path: "/",
        query,
        headers: &h,
        authority: None,
        body: b"",
    };
    let canonical = canonical_request(&req, &["host".into(), "x-amz-date".into()], false);
    let sts = format!(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    signature(SECRET, "20150830", "us-east-1", "service", &sts)
}

#[test]
fn the_aws_test_suite_signatures_are_reproduced() {
    assert_eq!(
        signed_by_suite(None),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert_eq!(
        signed_by_suite(Some("Param2=value2&Param1=value1")),
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    );
}

#[test]
fn what_authorization_signs_verifies() {
    let mut h = http::HeaderMap::new();
    h.insert("host", "api.example.test".parse().unwrap());
    h.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
    let mut req = Signed {
        method: "POST",
        path: "/prod/orders/7",
        query: Some("b=2&a=1"),
        headers: &h,
        authority: None,
        body: b"{}",
    };
    let auth = authorization(&req, &["host", "x-amz-date"], "AKID", SECRET, "eu-west-1").unwrap();
    let mut signed = h.clone();
    signed.insert("authorization", auth.parse().unwrap());
    req.headers = &signed;
    let cred = Arc::new(Credential {
        access_key_id: "AKID".into(),
        name: "bench".into(),
        secret_access_key: SECRET.into(),
        session_token: None,
        principal: "arn:aws:iam::123456789012:user/bench".into(),
        allow: Vec::new(),
        enabled: true,
        created_at: 0,
        from_config: false,
    });
    let creds = |id: &str| (id == "AKID").then(|| cred.clone());
    let at = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let arn = "arn:aws:execute-api:eu-west-1:123456789012:api/prod/POST/orders/7";
    let id = verify(creds, &req, at, arn).unwrap();
    assert_eq!(id.user, "user/bench");
    let tampered = Signed {
        body: b"{ }",
        ..req
    };
    assert!(verify(creds, &tampered, at, arn).is_err());
}

#[test]
fn amz_dates_round_trip() {
    let t = parse_amz_date("20150830T123600Z").unwrap();
    assert_eq!(t, 1_440_938_160);
    assert_eq!(amz_date(t), "20150830T123600Z");
    assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    assert!(parse_amz_date("2015-08-30T12:36:00Z").is_none());
}

#[test]
fn principals_name_account_and_user() {
    assert_eq!(
        principal_parts("arn:aws:iam::123456789012:user/alice"),
        ("123456789012".into(), "user/alice".into())
    );
}
