//! `wharf-ssh`: run one command on a wharf-sshd server over the native protocol and exit with
//! its status (128 + the signal number if a signal ended it; 255 if the client failed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use wharf_ssh::client::{ClientSession, Target, tls};

/// Exit status when the client itself fails, as ssh does.
const CLIENT_FAILURE: u8 = 255;

/// Environment variable holding the password, for scripts.
const PASSWORD_VARIABLE: &str = "WHARF_SSH_PASSWORD";

/// Run a command on a wharf-sshd server (native protocol).
#[derive(Debug, Parser)]
#[command(name = "wharf-ssh", version, about)]
struct Cli {
    /// Speak TLS (the server runs with --tls-cert and --tls-key).
    #[arg(long)]
    tls: bool,
    /// PEM file of the CA certificates to trust with --tls (default: the system's bundle).
    #[arg(long, value_name = "PEM", requires = "tls")]
    tls_ca: Option<PathBuf>,
    /// Where and as whom: user@host[:port] (IPv6 as user@[::1]:port; default port 2300).
    target: Target,
    /// The command line, run by /bin/sh -c in your home directory on the server.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the runtime: {error}")),
    };
    let code = runtime.block_on(run(cli));
    // Do not wait for the blocking thread that may still be reading standard input.
    runtime.shutdown_background();
    code
}

/// Connects, logs in, runs the command and turns its outcome into an exit status.
async fn run(cli: Cli) -> ExitCode {
    let connector = match cli.tls {
        false => None,
        true => match tls::connector(cli.tls_ca.as_deref()) {
            Ok(connector) => Some(connector),
            Err(error) => return fail(&error.to_string()),
        },
    };
    let password = match password(&cli.target) {
        Ok(password) => password,
        Err(message) => return fail(&message),
    };
    let outcome = async {
        let mut session = ClientSession::connect(&cli.target, connector.as_ref()).await?;
        session.login(&cli.target.user, &password).await?;
        let command = cli.command.join(" ");
        let mut stdout = tokio::io::stdout();
        let mut stderr = tokio::io::stderr();
        session
            .run(&command, tokio::io::stdin(), &mut stdout, &mut stderr)
            .await
    };
    match outcome.await {
        Ok(outcome) => {
            if let Some(limit) = &outcome.limit {
                eprintln!("wharf-ssh: {limit}");
            }
            if let wharf_ssh::protocol::ExitStatus::Unknown { message } = &outcome.status {
                eprintln!("wharf-ssh: {message}");
            }
            let code = outcome.status.shell_code();
            ExitCode::from(u8::try_from(code).unwrap_or(CLIENT_FAILURE))
        }
        Err(error) => fail(&error.to_string()),
    }
}

/// The password from `WHARF_SSH_PASSWORD`, or typed on the terminal.
fn password(target: &Target) -> Result<String, String> {
    if let Ok(password) = std::env::var(PASSWORD_VARIABLE) {
        return Ok(password);
    }
    let prompt = format!("{}@{}'s password: ", target.user, target.host);
    wharf_users::cli::prompt_password(&prompt).map_err(|error| {
        format!("cannot read the password from the terminal ({error}); set {PASSWORD_VARIABLE}")
    })
}

/// Reports a client failure and returns the failure status.
fn fail(message: &str) -> ExitCode {
    eprintln!("wharf-ssh: {message}");
    ExitCode::from(CLIENT_FAILURE)
}
