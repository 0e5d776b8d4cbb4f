//! `kbs-client`: command-line client for a KBS, command-line compatible with upstream's
//! `kbs-client` for its common commands. It parses arguments and calls the SDK, nothing else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Parser, Subcommand};
use kbs_client::jose::SigningKey;
use kbs_client::jose::TeeKeyPair;
use kbs_client::{KbsClient, KbsClientBuilder, policies};
use serde_json::Value;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "kbs-client",
    version,
    about = "A command line client for KBS APIs."
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,

    /// The KBS server root URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,

    /// The KBS HTTPS server custom root certificate file path (PEM format).
    #[arg(long)]
    cert_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Commands {
    /// Set and configure the KBS (admin API).
    #[command(arg_required_else_help = true)]
    Config(Config),

    /// Get a confidential resource; prints it base64-encoded.
    #[command(arg_required_else_help = true)]
    GetResource {
        /// Resource path, e.g. my_repo/resource_type/123abc.
        #[arg(long)]
        path: String,

        /// TEE private key (PEM: EC P-256/P-521 or RSA) to receive the resource with. Default: a
        /// fresh EC P-256 key.
        #[arg(long)]
        tee_key_file: Option<PathBuf>,

        /// Attestation token file: read with `Authorization: Bearer` instead of attesting.
        /// Requires `--tee-key-file` with the key whose public half is in the token.
        #[arg(long)]
        attestation_token: Option<PathBuf>,

        /// Init-data (TOML) file sent with the attestation.
        #[arg(long, alias = "initdata")]
        init_data: Option<PathBuf>,
    },

    /// Attest and print the attestation token.
    Attest {
        /// TEE private key (PEM) whose public half goes into the token. Default: a fresh EC
        /// P-256 key.
        #[arg(long)]
        tee_key_file: Option<PathBuf>,

        /// Init-data (TOML) file sent with the attestation.
        #[arg(long, alias = "initdata")]
        init_data: Option<PathBuf>,
    },
}

#[derive(Args)]
// exactly one credential; the other flags (role, issuer, audience) combine with either
#[group(skip)]
#[command(group = clap::ArgGroup::new("admin_credentials").required(true).multiple(false))]
struct Config {
    #[command(subcommand)]
    command: ConfigCommands,

    /// PEM private key (Ed25519, P-256 or RSA) that signs a short-lived admin token per request.
    #[arg(long, group = "admin_credentials")]
    auth_private_key: Option<PathBuf>,

    /// File holding a ready-made admin token (JWT).
    #[arg(long, group = "admin_credentials")]
    admin_token_file: Option<PathBuf>,

    /// `role` claim of minted admin tokens.
    #[arg(long, default_value = kbs_client::DEFAULT_ADMIN_ROLE)]
    admin_role: String,

    /// `iss` claim of minted admin tokens.
    #[arg(long)]
    admin_issuer: Option<String>,

    /// `aud` claim of minted admin tokens.
    #[arg(long)]
    admin_audience: Option<String>,
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)]
enum ConfigCommands {
    /// Set an attestation policy.
    SetAttestationPolicy {
        /// Policy type; only "rego" exists.
        #[arg(long, default_value = "rego")]
        r#type: String,

        /// Policy id.
        #[arg(long, default_value = "default_cpu")]
        id: String,

        /// Policy file path.
        #[arg(long)]
        policy_file: PathBuf,
    },

    /// Print an attestation policy (if the KBS offers reading them).
    GetAttestationPolicy {
        /// Policy id.
        #[arg(long, default_value = "default_cpu")]
        id: String,
    },

    /// List the attestation policy ids (if the KBS offers listing them).
    ListAttestationPolicies,

    /// Delete an attestation policy (if the KBS offers deleting them).
    DeleteAttestationPolicy {
        /// Policy id.
        #[arg(long)]
        id: String,
    },

    /// Set the resource policy.
    #[command(group = clap::ArgGroup::new("resource_policy").required(true).multiple(false))]
    SetResourcePolicy {
        /// Policy file path.
        #[arg(long, group = "resource_policy")]
        policy_file: Option<PathBuf>,

        /// Built-in policy allowing every resource to any attested client.
        #[arg(long, group = "resource_policy")]
        allow_all: bool,

        /// Built-in policy allowing nothing.
        #[arg(long, group = "resource_policy")]
        deny_all: bool,

        /// Built-in policy allowing reads only with an all-affirming token.
        #[arg(long, group = "resource_policy")]
        affirming: bool,

        /// The KBS default policy: any attested TEE except the sample TEE.
        #[arg(long, group = "resource_policy")]
        default: bool,
    },

    /// List the stored resource policy ids.
    GetResourcePolicy,

    /// Set a confidential resource.
    SetResource {
        /// Resource path, e.g. my_repo/resource_type/123abc.
        #[arg(long)]
        path: String,

        /// Resource file path.
        #[arg(long)]
        resource_file: PathBuf,
    },

    /// Delete a confidential resource.
    DeleteResource {
        /// Resource path, e.g. my_repo/resource_type/123abc.
        #[arg(long)]
        path: String,
    },

    /// Register a sample reference value (the RVPS sample extractor).
    SetSampleReferenceValue {
        /// The reference value name.
        name: String,
        /// The value; a string unless `--as-integer` or `--as-bool`.
        value: String,
        /// Parse the value as an integer.
        #[arg(long, group = "value_type")]
        as_integer: bool,
        /// Parse the value as a bool.
        #[arg(long, group = "value_type")]
        as_bool: bool,
        /// Register the value itself instead of a one-element list.
        #[arg(long)]
        as_single_value: bool,
    },

    /// Register reference values from an RVPS message file (JSON).
    RegisterReferenceValue {
        /// RVPS message file, e.g. {"version":"0.1.0","type":"sample","payload":"..."}.
        #[arg(long)]
        message_file: PathBuf,
    },

    /// Print the reference value stored under an id.
    #[command(alias = "get-reference-values")]
    GetReferenceValue {
        /// Reference value id (name).
        #[arg(long)]
        id: String,
    },

    /// Delete the reference value stored under an id (if the KBS offers deleting them).
    DeleteReferenceValue {
        /// Reference value id (name).
        #[arg(long)]
        id: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut builder = KbsClient::builder(&cli.url);
    if let Some(path) = &cli.cert_file {
        builder = builder.root_certificate_pem(read_text(path)?.as_str());
    }
    match cli.command {
        Commands::Attest {
            tee_key_file,
            init_data,
        } => {
            let client = guest_client(builder, tee_key_file.as_deref(), init_data.as_deref())?;
            println!("{}", client.attest().await?);
        }
        Commands::GetResource {
            path,
            tee_key_file,
            attestation_token,
            init_data,
        } => {
            let resource = match attestation_token {
                Some(token_file) => {
                    if tee_key_file.is_none() {
                        bail!(
                            "--attestation-token requires --tee-key-file with the key whose public half is in the token"
                        );
                    }
                    let token = read_text(&token_file)?;
                    let client = guest_client(builder, tee_key_file.as_deref(), None)?;
                    client.get_resource_with_token(&path, token.trim()).await?
                }
                None => {
                    let client =
                        guest_client(builder, tee_key_file.as_deref(), init_data.as_deref())?;
                    client.get_resource(&path).await?
                }
            };
            println!(
                "{}",
                Zeroizing::new(STANDARD.encode(resource.as_slice())).as_str()
            );
        }
        Commands::Config(config) => run_config(builder, config).await?,
    }
    Ok(())
}

async fn run_config(mut builder: KbsClientBuilder, config: Config) -> Result<()> {
    builder = match (&config.auth_private_key, &config.admin_token_file) {
        (Some(key_file), _) => {
            let pem = read_text(key_file)?;
            let key = SigningKey::from_pem(&pem)
                .with_context(|| format!("reading admin key {}", key_file.display()))?;
            builder.admin_signing_key(key)
        }
        (None, Some(token_file)) => builder.admin_token(read_text(token_file)?.trim()),
        (None, None) => bail!("--auth-private-key or --admin-token-file is required"),
    };
    builder = builder.admin_role(config.admin_role);
    if let Some(issuer) = config.admin_issuer {
        builder = builder.admin_issuer(issuer);
    }
    if let Some(audience) = config.admin_audience {
        builder = builder.admin_audience(audience);
    }
    let client = builder.build()?;

    match config.command {
        ConfigCommands::SetAttestationPolicy {
            r#type,
            id,
            policy_file,
        } => {
            if !r#type.eq_ignore_ascii_case("rego") {
                bail!("unsupported policy type {type:?}: only \"rego\" exists", type = r#type);
            }
            let policy = read_text(&policy_file)?;
            client.set_attestation_policy(&id, &policy).await?;
            println!("Set attestation policy {id} success");
        }
        ConfigCommands::GetAttestationPolicy { id } => {
            print!("{}", client.get_attestation_policy(&id).await?);
        }
        ConfigCommands::ListAttestationPolicies => {
            let ids = client.list_attestation_policies().await?;
            println!("{}", serde_json::to_string(&ids)?);
        }
        ConfigCommands::DeleteAttestationPolicy { id } => {
            client.delete_attestation_policy(&id).await?;
            println!("Delete attestation policy {id} success");
        }
        ConfigCommands::SetResourcePolicy {
            policy_file,
            allow_all,
            deny_all,
            affirming,
            default,
        } => {
            let policy = match policy_file {
                Some(file) => read_text(&file)?.as_str().to_owned(),
                None if allow_all => policies::ALLOW_ALL.to_owned(),
                None if deny_all => policies::DENY_ALL.to_owned(),
                None if affirming => policies::AFFIRMING.to_owned(),
                None if default => policies::DEFAULT.to_owned(),
                None => bail!("no policy specified"),
            };
            client.set_resource_policy(&policy).await?;
            println!("Set resource policy success");
        }
        ConfigCommands::GetResourcePolicy => {
            let ids = client.list_resource_policies().await?;
            println!("{}", serde_json::to_string(&ids)?);
        }
        ConfigCommands::SetResource {
            path,
            resource_file,
        } => {
            let bytes = Zeroizing::new(
                std::fs::read(&resource_file)
                    .with_context(|| format!("reading {}", resource_file.display()))?,
            );
            client.set_resource(&path, &bytes).await?;
            println!("Set resource {path} success");
        }
        ConfigCommands::DeleteResource { path } => {
            client.delete_resource(&path).await?;
            println!("Delete resource {path} success");
        }
        ConfigCommands::SetSampleReferenceValue {
            name,
            value,
            as_integer,
            as_bool,
            as_single_value,
        } => {
            let value: Value = if as_integer {
                value
                    .parse::<i64>()
                    .with_context(|| format!("{value:?} is not an integer"))?
                    .into()
            } else if as_bool {
                value
                    .parse::<bool>()
                    .with_context(|| format!("{value:?} is not a bool"))?
                    .into()
            } else {
                Value::String(value)
            };
            let values = if as_single_value {
                value
            } else {
                Value::Array(vec![value])
            };
            client.set_sample_reference_value(&name, values).await?;
            println!("Reference Values Updated");
        }
        ConfigCommands::RegisterReferenceValue { message_file } => {
            let message = read_text(&message_file)?;
            client.register_reference_value(&message).await?;
            println!("Reference Values Updated");
        }
        ConfigCommands::GetReferenceValue { id } => {
            let value = client.query_reference_value(&id).await?;
            println!("{value}");
        }
        ConfigCommands::DeleteReferenceValue { id } => {
            client.delete_reference_value(&id).await?;
            println!("Delete reference value {id} success");
        }
    }
    Ok(())
}

fn guest_client(
    mut builder: KbsClientBuilder,
    tee_key_file: Option<&Path>,
    init_data: Option<&Path>,
) -> Result<KbsClient> {
    if let Some(file) = tee_key_file {
        let pem = read_text(file)?;
        let key = TeeKeyPair::from_pem(&pem)
            .with_context(|| format!("reading TEE key {}", file.display()))?;
        builder = builder.tee_key(key);
    }
    if let Some(file) = init_data {
        builder = builder.init_data_toml(read_text(file)?.as_str());
    }
    Ok(builder.build()?)
}

/// Reads a text file into a buffer wiped on drop: these files hold keys and tokens.
fn read_text(path: &Path) -> Result<Zeroizing<String>> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .with_context(|| format!("reading {}", path.display()))
}
