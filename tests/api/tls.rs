//! The Slack client over TLS, against a real TLS server on loopback whose
//! certificate no public root signs: the handshake happens, the certificate is
//! refused, and the error names the cause without the webhook URL.

use std::sync::Arc;
use std::time::Duration;

use crate::support::SECRET;
use sns_to_slack::delivery::Post;
use sns_to_slack::delivery::policy::Attempt;
use sns_to_slack::destination::webhook::Webhook;
use sns_to_slack::destination::webhook::WebhookClient;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A TLS server for `localhost` with a self-signed certificate. Each finished
/// or failed handshake is reported on the channel (`Ok` = the client accepted it).
async fn self_signed_server() -> (u16, mpsc::UnboundedReceiver<Result<(), String>>) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = key.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let outcome = acceptor
                .accept(stream)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = tx.send(outcome);
        }
    });
    (port, rx)
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_the_error_hides_the_url() {
    let (port, mut handshakes) = self_signed_server().await;
    let url = format!("https://localhost:{port}/services/{SECRET}");
    let hook = Webhook::parse(&url).unwrap();
    let client = WebhookClient::new().unwrap();

    let attempt = client
        .post(&hook, "{}".into(), Duration::from_secs(10))
        .await;

    let Attempt::Transport(text) = attempt else {
        panic!("expected a transport failure, got {attempt:?}");
    };
    assert!(
        text.to_lowercase().contains("certificate"),
        "the error should name the certificate: {text}"
    );
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("/services/"), "{text}");
    // The server saw a TLS handshake, and the client broke it off.
    let server_side = tokio::time::timeout(Duration::from_secs(10), handshakes.recv())
        .await
        .expect("the server saw no connection")
        .expect("the server stopped");
    assert!(
        server_side.is_err(),
        "the handshake should fail on the server too: {server_side:?}"
    );
}
