//! Moto (the local Secrets Manager and SQS that `scripts/test.sh` starts): the SDK configuration
//! that reaches it, and a secret written into it.

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::{Credentials, Region};

use crate::support::harness;

pub fn moto_is_set() {
    for var in ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SQS"] {
        if std::env::var(var).map_or(true, |v| v.trim().is_empty()) {
            panic!("{var} is not set: run ./scripts/test.sh, which starts moto");
        }
    }
}

pub async fn sdk() -> aws_config::SdkConfig {
    moto_is_set();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(harness::region()))
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .load()
        .await
}

pub async fn secret(sm: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> String {
    sm.create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .expect("an ARN")
}
