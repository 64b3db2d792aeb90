//! Beyond loopback md-serve runs with TLS and a bearer token: a client without the token is
//! refused (UNAUTHENTICATED), one with it over TLS gets summaries, plain text gets nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::Stack;
use md_proto::orderbook::aggregator_client::AggregatorClient;
use md_proto::orderbook::Request;
use md_serve::{TlsFiles, Token};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

fn openssl(args: &[&str], dir: &std::path::Path) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("openssl makes the test certificates");
    assert!(status.success(), "openssl {args:?}");
}

/// A test CA and a certificate for `localhost` it signed (openssl, as an operator would make
/// them); returns the server's files and the CA's PEM.
fn certificates(dir: &std::path::Path) -> (TlsFiles, Vec<u8>) {
    let days = ["-days", "1"];
    openssl(
        &[
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=md test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ][..],
            &days,
        ]
        .concat(),
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
        ],
        dir,
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(
        &[
            &[
                "x509",
                "-req",
                "-in",
                "req.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                "ext.cnf",
                "-out",
                "cert.pem",
            ][..],
            &days,
        ]
        .concat(),
        dir,
    );
    (
        TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") },
        std::fs::read(dir.join("ca.pem")).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_the_token_are_required_and_enough() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, pem) = certificates(dir.path());
    let stack = Stack::start_with(Duration::from_secs(5), 20.0, |config| {
        config.tls = Some(tls);
        config.token = Token::required("s3cret");
    })
    .await;
    let tls_config =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)).domain_name("localhost");
    let channel =
        Channel::from_shared(format!("https://{}", stack.grpc)).unwrap().tls_config(tls_config).unwrap();
    let mut client = AggregatorClient::new(channel.connect().await.unwrap());
    let request = || Request { symbol: "BTC-USDT".into(), depth: 5, venues: vec![] };

    let status = client.book_summary(request()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let mut wrong = tonic::Request::new(request());
    wrong.metadata_mut().insert("authorization", "Bearer guess".parse().unwrap());
    assert_eq!(client.book_summary(wrong).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    assert_eq!(stack.server.hub().metrics().subscribes.load(std::sync::atomic::Ordering::Relaxed), 0);

    let mut right = tonic::Request::new(request());
    right.metadata_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
    let mut stream = client.book_summary(right).await.unwrap().into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().symbol, "BTC-USDT");

    // Plain text to a TLS port: no summary.
    let plain = AggregatorClient::connect(format!("http://{}", stack.grpc)).await;
    if let Ok(mut plain) = plain {
        let mut asked = tonic::Request::new(request());
        asked.metadata_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(plain.book_summary(asked).await.is_err());
    }
    stack.cancel.cancel();
}
