//! The confinement `serve` sets up from its flags: the kernel's Landlock ABI, the daemon's files
//! commands must never reach, and what it logs at start.

use wharf_users::Authenticator;

use super::ServeArgs;
use crate::exec::confine::{self, ConfineError, Confinement, ConfinementConfig, ResourceLimits};

/// Test-only: a number here lowers the Landlock ABI the daemon believes the kernel has (`0`
/// pretends there is no Landlock). It can only take confinement away, never fake it: the
/// daemon then refuses commands (or runs them unconfined with `--unconfined-commands`).
pub const TEST_LANDLOCK_ABI_ENV: &str = "WHARF_SSHD_TEST_LANDLOCK_ABI";

/// Builds the confinement of `args`, and logs how commands will run.
pub fn from_args(
    args: &ServeArgs,
    authenticator: &Authenticator,
) -> Result<Confinement, ConfineError> {
    let kernel = confine::kernel_abi();
    let pretended = std::env::var(TEST_LANDLOCK_ABI_ENV)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok());
    let landlock_abi = pretended.map_or(kernel, |pretended| pretended.min(kernel));
    if landlock_abi != kernel {
        tracing::warn!(
            kernel,
            pretended = landlock_abi,
            "{TEST_LANDLOCK_ABI_ENV} is set (test only): Landlock treated as weaker than it is"
        );
    }
    // The state directory holds the SSH host key and the command counters.
    let mut protected = vec![args.state_dir.clone()];
    protected.extend(args.users.file().map(std::path::Path::to_owned));
    protected.extend(args.tls_cert.iter().cloned());
    protected.extend(args.tls_key.iter().cloned());
    let config = ConfinementConfig {
        command_user: args.command_user.clone(),
        allow_root_commands: args.allow_root_commands,
        unconfined_commands: args.unconfined_commands,
        limits: ResourceLimits {
            cpu_seconds: args.limit_cpu_seconds,
            address_space: args.limit_address_space,
            processes: args.limit_processes,
            open_files: args.limit_open_files,
            file_size: args.limit_file_size,
        },
        protected,
        landlock_abi,
        tmp_base: std::env::temp_dir(),
    };
    let confinement = Confinement::new(config, Some(authenticator.clone()))?;
    log_summary(&confinement, args);
    Ok(confinement)
}

/// One line on how commands will be confined, louder when they will not be.
fn log_summary(confinement: &Confinement, args: &ServeArgs) {
    let abi = confinement.found_abi();
    match (confinement.landlock_available(), confinement.unconfined()) {
        (true, false) => tracing::info!(landlock_abi = abi, "commands are confined with Landlock"),
        (_, true) => tracing::warn!(
            landlock_abi = abi,
            "--unconfined-commands: commands run WITHOUT Landlock; they can read and write what their uid can"
        ),
        (false, false) => tracing::error!(
            landlock_abi = abi,
            min_abi = confine::MIN_ABI,
            "this kernel cannot confine commands (Landlock missing or too old): every command will be refused; --unconfined-commands runs them anyway"
        ),
    }
    match confinement.kept_identity() {
        Some(identity) => tracing::warn!(
            uid = identity.uid,
            gid = identity.gid,
            "not started as root: commands run as the daemon's own user (still under Landlock and limits)"
        ),
        None => tracing::info!(
            command_user = %args.command_user,
            allow_root_commands = args.allow_root_commands,
            "commands run as each user's uid, or as the command user"
        ),
    }
}
