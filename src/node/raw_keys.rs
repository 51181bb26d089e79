//! Which keys of a manifest's raw pass-through tables (`[app.X.unit]`,
//! `[app.X.service]`, `[app.X.install]`, and the same under `[defaults]`)
//! may reach a unit: every key systemd 252, 257 and 262 know in [Unit],
//! [Service] and [Install], each with a [`Verdict`].
//!
//! A manifest may be written by an untrusted repository author. A key
//! [`Verdict::Pass`]es only when no value of it can widen what the app may
//! reach or change on the node: descriptions, timeouts, restart policy and
//! rate limits, the watchdog, the signal it is stopped with, exit statuses,
//! `After=`, conditions and asserts (they only decide whether it starts),
//! accounting, cgroup limits (the manager sets none by default, so they
//! only restrict), weights, rlimits of its own resources, and the fields
//! of its own log records. Every other key is [`Verdict::Refuse`]d with
//! the [`Reach`] it could change, unless the person running wasmunit
//! allows it by name. A key none of the three managers knows has no
//! verdict ([`verdict`] returns `None`): refused too (default deny).
//!
//! Deprecated spellings and aliases (`BindTo=`, `StartLimitInterval=`,
//! `MemoryLimit=`, the cgroup v1 `BlockIO*=`) get the verdict of what they
//! stand for. The table is the union of `systemd --dump-configuration-items`
//! of the three managers; `tests/all/node_map.rs` checks it against them.

/// A section of a unit file a raw table writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    Unit,
    Service,
    Install,
}

impl Section {
    /// The section's name as systemd spells it (`Unit`, not `[Unit]`).
    pub fn name(self) -> &'static str {
        match self {
            Section::Unit => "Unit",
            Section::Service => "Service",
            Section::Install => "Install",
        }
    }
}

/// Why a key is refused: what it could change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// `User=`, `DynamicUser=`, `PAMName=`, ...
    Identity,
    /// Capabilities, `NoNewPrivileges=`, `SecureBits=`, cgroup delegation,
    /// BPF tokens.
    Privileges,
    /// `LoadCredential=`, `SetCredential=`, `ImportCredential=`.
    Credentials,
    /// The file system view, and files the manager opens as root for it
    /// (`StandardOutput=file:`, `EnvironmentFile=`, `OpenFile=`).
    Paths,
    /// `Exec*=` lines and `Type=`.
    Exec,
    /// `Environment=` and siblings: wasmtime 49+ reads options from
    /// `WASMTIME_*` variables.
    Environment,
    /// Namespaces it could share or join (`PrivateUsers=`,
    /// `JoinsNamespaceOf=`, `*NamespacePath=`).
    Namespaces,
    /// `DeviceAllow=`, `PrivateDevices=`, the `TTY*=` keys.
    Devices,
    /// Seccomp, `Protect*=`, MAC labels: the kernel surface.
    Sandbox,
    /// Address families, IP and socket-bind filters, the network namespace.
    Network,
    /// Dependencies on and of other units, `Before=`, `Slice=`, all of
    /// [Install].
    OtherUnits,
    /// CPU, I/O and memory priority or protection over the node's own
    /// services (`Nice=`, real-time scheduling, `MemoryMin=`, ...).
    Scheduling,
    /// The node's journal, login records and core dumps.
    Logging,
    /// `FailureAction=` and siblings: reboot, power off.
    Power,
    /// How the manager tracks and stops it: processes that outlive the
    /// unit, a main PID it does not own, a unit that refuses to stop.
    Control,
    /// Limits that a value can also raise above the node's defaults or
    /// above wasmunit's own (`MemoryMax=infinity`, `TasksMax=`, `Limit*=`).
    Resources,
    /// A setting wasmunit renders from a typed key (`description`,
    /// `restart`, `after`, `memory`): a second value would override it.
    Typed,
}

impl Reach {
    /// What the key could change, for an error message: "… could change
    /// {what}".
    pub fn what(self) -> &'static str {
        match self {
            Reach::Identity => "the user or groups it runs as",
            Reach::Privileges => "the privileges and capabilities it holds",
            Reach::Credentials => "the credentials it is handed",
            Reach::Paths => "the files and folders it may see, read or write",
            Reach::Exec => "the commands the node runs for it",
            Reach::Environment => "the environment its commands see",
            Reach::Namespaces => "the namespaces it shares with the node or other units",
            Reach::Devices => "the devices and terminals it may open",
            Reach::Sandbox => "the kernel interfaces and system calls it may use",
            Reach::Network => "what of the network it may reach",
            Reach::OtherUnits => "which of the node's other units it starts, stops or runs before",
            Reach::Scheduling => "its priority over the node's own services",
            Reach::Logging => "what it writes into the node's logs, login records and core dumps",
            Reach::Power => "whether the node reboots or powers off",
            Reach::Control => "how the node's manager tracks and stops it",
            Reach::Resources => "the memory, tasks and other limits that hold it",
            Reach::Typed => "a setting wasmunit renders from the manifest's own keys",
        }
    }
}

/// What becomes of a raw key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Written as is: no value of it widens what the app may reach.
    Pass,
    /// Refused unless allowed by name on the command line.
    Refuse(Reach),
}

use Reach::{
    Control, Credentials, Devices, Environment, Exec, Identity, Logging, Namespaces, Network,
    OtherUnits, Paths, Power, Privileges, Resources, Sandbox, Scheduling, Typed,
};
use Section::{Install, Service, Unit};
use Verdict::{Pass, Refuse};

/// Every key any of systemd 252, 257, 262 knows in these sections, sorted
/// by (section, key). Comments say why where the verdict is not plain
/// from the key's name.
#[rustfmt::skip]
pub const KEYS: &[(Section, &str, Verdict)] = &[
    (Unit, "After", Refuse(Typed)), // ordering only: it may start later
    (Unit, "AllowIsolate", Refuse(Control)), // `systemctl isolate` of it stops every other unit
    (Unit, "AssertACPower", Pass), // conditions and asserts: only whether it starts
    (Unit, "AssertArchitecture", Pass),
    (Unit, "AssertCPUFeature", Pass),
    (Unit, "AssertCPUPressure", Pass),
    (Unit, "AssertCPUs", Pass),
    (Unit, "AssertCapability", Pass),
    (Unit, "AssertControlGroupController", Pass),
    (Unit, "AssertCredential", Pass),
    (Unit, "AssertDirectoryNotEmpty", Pass),
    (Unit, "AssertEnvironment", Pass),
    (Unit, "AssertFileIsExecutable", Pass),
    (Unit, "AssertFileNotEmpty", Pass),
    (Unit, "AssertFirstBoot", Pass),
    (Unit, "AssertFraction", Pass),
    (Unit, "AssertGroup", Pass),
    (Unit, "AssertHost", Pass),
    (Unit, "AssertIOPressure", Pass),
    (Unit, "AssertKernelCommandLine", Pass),
    (Unit, "AssertKernelModuleLoaded", Pass),
    (Unit, "AssertKernelVersion", Pass),
    (Unit, "AssertMachineTag", Pass),
    (Unit, "AssertMemory", Pass),
    (Unit, "AssertMemoryPressure", Pass),
    (Unit, "AssertNeedsUpdate", Pass),
    (Unit, "AssertOSRelease", Pass),
    (Unit, "AssertPathExists", Pass),
    (Unit, "AssertPathExistsGlob", Pass),
    (Unit, "AssertPathIsDirectory", Pass),
    (Unit, "AssertPathIsEncrypted", Pass),
    (Unit, "AssertPathIsMountPoint", Pass),
    (Unit, "AssertPathIsReadWrite", Pass),
    (Unit, "AssertPathIsSocket", Pass),
    (Unit, "AssertPathIsSymbolicLink", Pass),
    (Unit, "AssertSecurity", Pass),
    (Unit, "AssertUser", Pass),
    (Unit, "AssertVersion", Pass),
    (Unit, "AssertVirtualization", Pass),
    (Unit, "Before", Refuse(OtherUnits)), // before a node unit; a cycle deletes a job
    (Unit, "BindTo", Refuse(OtherUnits)), // alias of BindsTo=
    (Unit, "BindsTo", Refuse(OtherUnits)),
    (Unit, "CollectMode", Pass),
    (Unit, "ConditionACPower", Pass),
    (Unit, "ConditionArchitecture", Pass),
    (Unit, "ConditionCPUFeature", Pass),
    (Unit, "ConditionCPUPressure", Pass),
    (Unit, "ConditionCPUs", Pass),
    (Unit, "ConditionCapability", Pass),
    (Unit, "ConditionControlGroupController", Pass),
    (Unit, "ConditionCredential", Pass),
    (Unit, "ConditionDirectoryNotEmpty", Pass),
    (Unit, "ConditionEnvironment", Pass),
    (Unit, "ConditionFileIsExecutable", Pass),
    (Unit, "ConditionFileNotEmpty", Pass),
    (Unit, "ConditionFirmware", Pass),
    (Unit, "ConditionFirstBoot", Pass),
    (Unit, "ConditionFraction", Pass),
    (Unit, "ConditionGroup", Pass),
    (Unit, "ConditionHost", Pass),
    (Unit, "ConditionIOPressure", Pass),
    (Unit, "ConditionKernelCommandLine", Pass),
    (Unit, "ConditionKernelModuleLoaded", Pass),
    (Unit, "ConditionKernelVersion", Pass),
    (Unit, "ConditionMachineTag", Pass),
    (Unit, "ConditionMemory", Pass),
    (Unit, "ConditionMemoryPressure", Pass),
    (Unit, "ConditionNeedsUpdate", Pass),
    (Unit, "ConditionOSRelease", Pass),
    (Unit, "ConditionPathExists", Pass),
    (Unit, "ConditionPathExistsGlob", Pass),
    (Unit, "ConditionPathIsDirectory", Pass),
    (Unit, "ConditionPathIsEncrypted", Pass),
    (Unit, "ConditionPathIsMountPoint", Pass),
    (Unit, "ConditionPathIsReadWrite", Pass),
    (Unit, "ConditionPathIsSocket", Pass),
    (Unit, "ConditionPathIsSymbolicLink", Pass),
    (Unit, "ConditionSecurity", Pass),
    (Unit, "ConditionUser", Pass),
    (Unit, "ConditionVersion", Pass),
    (Unit, "ConditionVirtualization", Pass),
    (Unit, "Conflicts", Refuse(OtherUnits)),
    (Unit, "DefaultDependencies", Refuse(OtherUnits)), // no: starts before sysinit.target
    (Unit, "Description", Refuse(Typed)),
    (Unit, "Documentation", Pass),
    (Unit, "FailureAction", Refuse(Power)),
    (Unit, "FailureActionExitStatus", Refuse(Power)),
    (Unit, "IgnoreOnIsolate", Refuse(Control)), // survives an isolate (rescue.target)
    (Unit, "JobRunningTimeoutSec", Pass),
    (Unit, "JobTimeoutAction", Refuse(Power)),
    (Unit, "JobTimeoutRebootArgument", Refuse(Power)),
    (Unit, "JobTimeoutSec", Pass),
    (Unit, "JoinsNamespaceOf", Refuse(Namespaces)), // another unit's /tmp, IPC and network
    (Unit, "OnFailure", Refuse(OtherUnits)),
    (Unit, "OnFailureIsolate", Refuse(OtherUnits)), // deprecated: OnFailureJobMode=isolate
    (Unit, "OnFailureJobMode", Refuse(OtherUnits)),
    (Unit, "OnSuccess", Refuse(OtherUnits)),
    (Unit, "OnSuccessJobMode", Refuse(OtherUnits)),
    (Unit, "PartOf", Refuse(OtherUnits)),
    (Unit, "PropagateReloadFrom", Refuse(OtherUnits)), // alias of ReloadPropagatedFrom=
    (Unit, "PropagateReloadTo", Refuse(OtherUnits)), // alias of PropagatesReloadTo=
    (Unit, "PropagatesReloadTo", Refuse(OtherUnits)),
    (Unit, "PropagatesStopTo", Refuse(OtherUnits)),
    (Unit, "RebootArgument", Refuse(Power)),
    (Unit, "RefuseManualStart", Refuse(Control)),
    (Unit, "RefuseManualStop", Refuse(Control)),
    (Unit, "ReloadPropagatedFrom", Refuse(OtherUnits)),
    (Unit, "Requires", Refuse(OtherUnits)),
    (Unit, "RequiresMountsFor", Refuse(OtherUnits)), // pulls in the mounts of a path
    (Unit, "RequiresOverridable", Refuse(OtherUnits)), // obsolete Requires=
    (Unit, "Requisite", Refuse(OtherUnits)),
    (Unit, "RequisiteOverridable", Refuse(OtherUnits)), // obsolete Requisite=
    (Unit, "SourcePath", Refuse(Control)), // metadata: the manager only stats it
    (Unit, "StartLimitAction", Refuse(Power)),
    (Unit, "StartLimitBurst", Refuse(Control)),
    (Unit, "StartLimitInterval", Refuse(Control)), // alias of StartLimitIntervalSec=
    (Unit, "StartLimitIntervalSec", Refuse(Control)),
    (Unit, "StopPropagatedFrom", Refuse(OtherUnits)),
    (Unit, "StopWhenUnneeded", Pass),
    (Unit, "SuccessAction", Refuse(Power)),
    (Unit, "SuccessActionExitStatus", Refuse(Power)),
    (Unit, "SurviveFinalKillSignal", Refuse(Control)), // outlives the final kill at shutdown
    (Unit, "Upholds", Refuse(OtherUnits)),
    (Unit, "Wants", Refuse(OtherUnits)),
    (Unit, "WantsMountsFor", Refuse(OtherUnits)), // pulls in the mounts of a path
    (Service, "AllowedCPUs", Refuse(Scheduling)), // as CPUAffinity=
    (Service, "AllowedMemoryNodes", Refuse(Scheduling)), // as NUMAPolicy=bind
    (Service, "AmbientCapabilities", Refuse(Privileges)),
    (Service, "AppArmorProfile", Refuse(Sandbox)),
    (Service, "BPFDelegateAttachments", Refuse(Privileges)),
    (Service, "BPFDelegateCommands", Refuse(Privileges)),
    (Service, "BPFDelegateMaps", Refuse(Privileges)),
    (Service, "BPFDelegatePrograms", Refuse(Privileges)),
    (Service, "BPFProgram", Refuse(Sandbox)),
    (Service, "BindLogSockets", Refuse(Logging)),
    (Service, "BindNetworkInterface", Refuse(Network)), // its sockets bound to an interface (a VRF)
    (Service, "BindPaths", Refuse(Paths)),
    (Service, "BindReadOnlyPaths", Refuse(Paths)),
    (Service, "BlockIOAccounting", Pass), // cgroup v1 IOAccounting=; ignored by 258+
    (Service, "BlockIODeviceWeight", Refuse(Scheduling)), // cgroup v1 IODeviceWeight=
    (Service, "BlockIOReadBandwidth", Pass), // cgroup v1 IOReadBandwidthMax=
    (Service, "BlockIOWeight", Refuse(Scheduling)), // cgroup v1 IOWeight=
    (Service, "BlockIOWriteBandwidth", Pass), // cgroup v1 IOWriteBandwidthMax=
    (Service, "BusName", Refuse(Control)), // the name's owner may become its main PID
    (Service, "CPUAccounting", Pass),
    (Service, "CPUAffinity", Refuse(Scheduling)),
    (Service, "CPUPressureThresholdSec", Pass),
    (Service, "CPUPressureWatch", Pass),
    (Service, "CPUQuota", Pass),
    (Service, "CPUQuotaPeriodSec", Pass),
    (Service, "CPUSchedulingPolicy", Refuse(Scheduling)),
    (Service, "CPUSchedulingPriority", Refuse(Scheduling)),
    (Service, "CPUSchedulingResetOnFork", Refuse(Scheduling)),
    (Service, "CPUSetPartition", Refuse(Scheduling)),
    (Service, "CPUShares", Refuse(Scheduling)), // cgroup v1 CPUWeight=
    (Service, "CPUWeight", Refuse(Scheduling)), // a share under contention, not a privilege
    (Service, "CacheDirectory", Refuse(Paths)),
    (Service, "CacheDirectoryAccounting", Pass),
    (Service, "CacheDirectoryMode", Refuse(Paths)),
    (Service, "CacheDirectoryQuota", Pass),
    (Service, "CapabilityBoundingSet", Refuse(Privileges)),
    (Service, "ConfigurationDirectory", Refuse(Paths)),
    (Service, "ConfigurationDirectoryMode", Refuse(Paths)),
    (Service, "CoredumpFilter", Refuse(Logging)),
    (Service, "CoredumpReceive", Refuse(Sandbox)), // needs Delegate=
    (Service, "DefaultMemoryLow", Refuse(Scheduling)), // its children's MemoryLow=
    (Service, "DefaultMemoryMin", Refuse(Scheduling)), // its children's MemoryMin=
    (Service, "DefaultStartupMemoryLow", Refuse(Scheduling)), // its children's StartupMemoryLow=
    (Service, "Delegate", Refuse(Privileges)), // write access to its own cgroup subtree
    (Service, "DelegateNamespaces", Refuse(Namespaces)),
    (Service, "DelegateSubgroup", Refuse(Privileges)),
    (Service, "DeviceAllow", Refuse(Devices)),
    (Service, "DevicePolicy", Refuse(Devices)),
    (Service, "DisableControllers", Refuse(Sandbox)), // cgroup controllers of its subtree
    (Service, "DynamicUser", Refuse(Identity)),
    (Service, "Environment", Refuse(Environment)),
    (Service, "EnvironmentFile", Refuse(Paths)), // read by the manager, as root
    (Service, "ExecCondition", Refuse(Exec)),
    (Service, "ExecPaths", Refuse(Paths)),
    (Service, "ExecReload", Refuse(Exec)),
    (Service, "ExecReloadPost", Refuse(Exec)),
    (Service, "ExecSearchPath", Refuse(Exec)), // also sets PATH
    (Service, "ExecStart", Refuse(Exec)),
    (Service, "ExecStartPost", Refuse(Exec)),
    (Service, "ExecStartPre", Refuse(Exec)),
    (Service, "ExecStop", Refuse(Exec)),
    (Service, "ExecStopPost", Refuse(Exec)),
    (Service, "ExitType", Pass),
    (Service, "ExtensionDirectories", Refuse(Paths)),
    (Service, "ExtensionImagePolicy", Refuse(Paths)), // loosens a pinned runtime's image policy
    (Service, "ExtensionImages", Refuse(Paths)),
    (Service, "FailureAction", Refuse(Power)),
    (Service, "FileDescriptorStoreMax", Refuse(Control)),
    (Service, "FileDescriptorStorePreserve", Refuse(Control)),
    (Service, "FinalKillSignal", Refuse(Control)), // a harmless signal: as SendSIGKILL=no
    (Service, "Group", Refuse(Identity)),
    (Service, "GuessMainPID", Pass),
    (Service, "IOAccounting", Pass),
    (Service, "IODeviceLatencyTargetSec", Refuse(Scheduling)), // throttles its siblings' I/O
    (Service, "IODeviceWeight", Refuse(Scheduling)),
    (Service, "IOPressureThresholdSec", Pass),
    (Service, "IOPressureWatch", Pass),
    (Service, "IOReadBandwidthMax", Pass),
    (Service, "IOReadIOPSMax", Pass),
    (Service, "IOSchedulingClass", Refuse(Scheduling)),
    (Service, "IOSchedulingPriority", Refuse(Scheduling)),
    (Service, "IOWeight", Refuse(Scheduling)),
    (Service, "IOWriteBandwidthMax", Pass),
    (Service, "IOWriteIOPSMax", Pass),
    (Service, "IPAccounting", Pass),
    (Service, "IPAddressAllow", Refuse(Network)),
    (Service, "IPAddressDeny", Refuse(Network)),
    (Service, "IPCNamespacePath", Refuse(Namespaces)),
    (Service, "IPEgressFilterPath", Refuse(Network)),
    (Service, "IPIngressFilterPath", Refuse(Network)),
    (Service, "IgnoreSIGPIPE", Pass),
    (Service, "ImportCredential", Refuse(Credentials)),
    (Service, "InaccessibleDirectories", Refuse(Paths)), // alias of InaccessiblePaths=
    (Service, "InaccessiblePaths", Refuse(Paths)), // restricts, but no use to a wasm app
    (Service, "KeyringMode", Refuse(Sandbox)),
    (Service, "KillMode", Refuse(Control)), // none, process: processes outlive the unit
    (Service, "KillSignal", Refuse(Control)),
    (Service, "LUOSession", Refuse(Devices)), // /dev/liveupdate
    (Service, "LimitAS", Refuse(Resources)),
    (Service, "LimitCORE", Refuse(Logging)), // its memory into the core dump store
    (Service, "LimitCPU", Refuse(Resources)),
    (Service, "LimitDATA", Refuse(Resources)),
    (Service, "LimitFSIZE", Refuse(Resources)),
    (Service, "LimitLOCKS", Refuse(Resources)),
    (Service, "LimitMEMLOCK", Refuse(Scheduling)), // memory the node cannot reclaim
    (Service, "LimitMSGQUEUE", Refuse(Resources)),
    (Service, "LimitNICE", Refuse(Scheduling)), // lets it renice itself above the node
    (Service, "LimitNOFILE", Refuse(Resources)), // rlimits: more of its own, no new reach
    (Service, "LimitNPROC", Refuse(Resources)),
    (Service, "LimitRSS", Refuse(Resources)),
    (Service, "LimitRTPRIO", Refuse(Scheduling)), // real-time priority without CAP_SYS_NICE
    (Service, "LimitRTTIME", Refuse(Resources)),
    (Service, "LimitSIGPENDING", Refuse(Resources)),
    (Service, "LimitSTACK", Refuse(Resources)),
    (Service, "LoadCredential", Refuse(Credentials)),
    (Service, "LoadCredentialEncrypted", Refuse(Credentials)),
    (Service, "LockPersonality", Refuse(Sandbox)),
    (Service, "LogExtraFields", Refuse(Logging)),
    (Service, "LogFilterPatterns", Pass),
    (Service, "LogLevelMax", Pass),
    (Service, "LogNamespace", Refuse(Logging)), // pulls in systemd-journald@NS.service
    (Service, "LogRateLimitBurst", Refuse(Logging)), // lifts journald's limit: floods the journal
    (Service, "LogRateLimitIntervalSec", Refuse(Logging)), // 0 lifts journald's limit
    (Service, "LogsDirectory", Refuse(Paths)),
    (Service, "LogsDirectoryAccounting", Pass),
    (Service, "LogsDirectoryMode", Refuse(Paths)),
    (Service, "LogsDirectoryQuota", Pass),
    (Service, "ManagedOOMMemoryPressure", Refuse(OtherUnits)), // kill: pulls in systemd-oomd
    (Service, "ManagedOOMMemoryPressureDurationSec", Pass),
    (Service, "ManagedOOMMemoryPressureLimit", Pass),
    (Service, "ManagedOOMPreference", Refuse(Scheduling)), // avoid, omit: oomd kills others first
    (Service, "ManagedOOMSwap", Refuse(OtherUnits)), // kill: pulls in systemd-oomd
    (Service, "MemoryAccounting", Pass),
    (Service, "MemoryDenyWriteExecute", Refuse(Sandbox)),
    (Service, "MemoryHigh", Refuse(Resources)),
    (Service, "MemoryKSM", Refuse(Sandbox)), // pages merged across security domains
    (Service, "MemoryLimit", Refuse(Resources)), // cgroup v1 MemoryMax=
    (Service, "MemoryLow", Refuse(Scheduling)), // memory kept from the node's own reclaim
    (Service, "MemoryMax", Refuse(Resources)), // limits: the manager sets none by default
    (Service, "MemoryMin", Refuse(Scheduling)), // memory kept from the node's own reclaim
    (Service, "MemoryPressureThresholdSec", Pass),
    (Service, "MemoryPressureWatch", Pass),
    (Service, "MemorySwapMax", Refuse(Resources)),
    (Service, "MemoryTHP", Pass),
    (Service, "MemoryZSwapMax", Refuse(Resources)),
    (Service, "MemoryZSwapWriteback", Refuse(Resources)),
    (Service, "MountAPIVFS", Refuse(Paths)),
    (Service, "MountFlags", Refuse(Paths)), // shared: its mounts reach the node
    (Service, "MountImagePolicy", Refuse(Paths)),
    (Service, "MountImages", Refuse(Paths)),
    (Service, "NFTSet", Refuse(Network)), // adds it to the node's nftables sets
    (Service, "NUMAMask", Refuse(Scheduling)),
    (Service, "NUMAPolicy", Refuse(Scheduling)),
    (Service, "NetworkNamespacePath", Refuse(Network)),
    (Service, "Nice", Refuse(Scheduling)),
    (Service, "NoExecPaths", Refuse(Paths)),
    (Service, "NoNewPrivileges", Refuse(Privileges)),
    (Service, "NonBlocking", Pass),
    (Service, "NotifyAccess", Refuse(Control)), // MAINPID= names the process the manager kills
    (Service, "OOMPolicy", Pass),
    (Service, "OOMRules", Refuse(OtherUnits)), // pulls in systemd-oomd
    (Service, "OOMScoreAdjust", Refuse(Scheduling)),
    (Service, "OpenFile", Refuse(Paths)), // opened by the manager, as root
    (Service, "PAMName", Refuse(Identity)),
    (Service, "PIDFile", Refuse(Control)), // a root-owned file may name any process
    (Service, "PassEnvironment", Refuse(Environment)),
    (Service, "PermissionsStartOnly", Refuse(Privileges)),
    (Service, "Personality", Refuse(Sandbox)),
    (Service, "PrivateBPF", Refuse(Sandbox)),
    (Service, "PrivateDevices", Refuse(Devices)),
    (Service, "PrivateIPC", Refuse(Namespaces)),
    (Service, "PrivateMounts", Refuse(Namespaces)),
    (Service, "PrivateNetwork", Refuse(Network)),
    (Service, "PrivatePIDs", Refuse(Namespaces)),
    (Service, "PrivateTmp", Refuse(Paths)),
    (Service, "PrivateUsers", Refuse(Namespaces)),
    (Service, "ProcSubset", Refuse(Sandbox)),
    (Service, "ProtectClock", Refuse(Sandbox)),
    (Service, "ProtectControlGroups", Refuse(Sandbox)),
    (Service, "ProtectHome", Refuse(Paths)),
    (Service, "ProtectHostname", Refuse(Sandbox)),
    (Service, "ProtectKernelLogs", Refuse(Sandbox)),
    (Service, "ProtectKernelModules", Refuse(Sandbox)),
    (Service, "ProtectKernelTunables", Refuse(Sandbox)),
    (Service, "ProtectProc", Refuse(Sandbox)),
    (Service, "ProtectSystem", Refuse(Paths)),
    (Service, "ReadOnlyDirectories", Refuse(Paths)), // alias of ReadOnlyPaths=
    (Service, "ReadOnlyPaths", Refuse(Paths)), // outranks a TemporaryFileSystem= on its path
    (Service, "ReadWriteDirectories", Refuse(Paths)), // alias of ReadWritePaths=
    (Service, "ReadWritePaths", Refuse(Paths)),
    (Service, "RebootArgument", Refuse(Power)),
    (Service, "RefreshOnReload", Refuse(Credentials)), // credentials and extension images
    (Service, "ReloadSignal", Refuse(Control)),
    (Service, "RemainAfterExit", Pass),
    (Service, "RemoveIPC", Refuse(Sandbox)), // no: its IPC objects outlive it
    (Service, "Restart", Refuse(Typed)),
    (Service, "RestartForceExitStatus", Refuse(Typed)),
    (Service, "RestartKillSignal", Refuse(Control)),
    (Service, "RestartMaxDelaySec", Refuse(Typed)),
    (Service, "RestartMode", Refuse(Typed)),
    (Service, "RestartPreventExitStatus", Refuse(Typed)),
    (Service, "RestartRandomizedDelaySec", Refuse(Typed)),
    (Service, "RestartSec", Refuse(Typed)),
    (Service, "RestartSteps", Refuse(Typed)),
    (Service, "RestrictAddressFamilies", Refuse(Network)),
    (Service, "RestrictFileSystems", Refuse(Sandbox)),
    (Service, "RestrictNamespaces", Refuse(Namespaces)),
    (Service, "RestrictNetworkInterfaces", Refuse(Network)),
    (Service, "RestrictRealtime", Refuse(Sandbox)),
    (Service, "RestrictSUIDSGID", Refuse(Sandbox)),
    (Service, "RootDirectory", Refuse(Paths)),
    (Service, "RootDirectoryStartOnly", Refuse(Privileges)),
    (Service, "RootEphemeral", Refuse(Paths)),
    (Service, "RootHash", Refuse(Paths)),
    (Service, "RootHashSignature", Refuse(Paths)),
    (Service, "RootImage", Refuse(Paths)),
    (Service, "RootImageOptions", Refuse(Paths)),
    (Service, "RootImagePolicy", Refuse(Paths)),
    (Service, "RootMStack", Refuse(Paths)),
    (Service, "RootVerity", Refuse(Paths)),
    (Service, "RuntimeDirectory", Refuse(Paths)),
    (Service, "RuntimeDirectoryMode", Refuse(Paths)),
    (Service, "RuntimeDirectoryPreserve", Refuse(Paths)),
    (Service, "RuntimeMaxSec", Pass),
    (Service, "RuntimeRandomizedExtraSec", Pass),
    (Service, "SELinuxContext", Refuse(Sandbox)),
    (Service, "SecureBits", Refuse(Privileges)),
    (Service, "SendSIGHUP", Refuse(Control)),
    (Service, "SendSIGKILL", Refuse(Control)), // no: processes outlive the unit
    (Service, "SetCredential", Refuse(Credentials)),
    (Service, "SetCredentialEncrypted", Refuse(Credentials)),
    (Service, "SetLoginEnvironment", Refuse(Environment)),
    (Service, "Slice", Refuse(OtherUnits)),
    (Service, "SmackProcessLabel", Refuse(Sandbox)),
    (Service, "SocketBindAllow", Refuse(Network)),
    (Service, "SocketBindDeny", Refuse(Network)),
    (Service, "Sockets", Refuse(OtherUnits)), // other socket units' descriptors
    (Service, "StandardError", Refuse(Paths)), // file:PATH is opened as root
    (Service, "StandardInput", Refuse(Paths)), // file:PATH is opened as root
    (Service, "StandardInputData", Pass),
    (Service, "StandardInputText", Pass),
    (Service, "StandardOutput", Refuse(Paths)), // file:PATH is opened as root
    (Service, "StartLimitAction", Refuse(Power)), // deprecated [Service] spelling
    (Service, "StartLimitBurst", Refuse(Control)),
    (Service, "StartLimitInterval", Refuse(Control)),
    (Service, "StartupAllowedCPUs", Refuse(Scheduling)),
    (Service, "StartupAllowedMemoryNodes", Refuse(Scheduling)),
    (Service, "StartupBlockIOWeight", Refuse(Scheduling)), // cgroup v1 StartupIOWeight=
    (Service, "StartupCPUShares", Refuse(Scheduling)), // cgroup v1 StartupCPUWeight=
    (Service, "StartupCPUWeight", Refuse(Scheduling)),
    (Service, "StartupIOWeight", Refuse(Scheduling)),
    (Service, "StartupMemoryHigh", Refuse(Resources)),
    (Service, "StartupMemoryLow", Refuse(Scheduling)),
    (Service, "StartupMemoryMax", Refuse(Resources)),
    (Service, "StartupMemorySwapMax", Refuse(Resources)),
    (Service, "StartupMemoryZSwapMax", Refuse(Resources)),
    (Service, "StateDirectory", Refuse(Paths)),
    (Service, "StateDirectoryAccounting", Pass),
    (Service, "StateDirectoryMode", Refuse(Paths)),
    (Service, "StateDirectoryQuota", Pass),
    (Service, "SuccessExitStatus", Pass),
    (Service, "SupplementaryGroups", Refuse(Identity)),
    (Service, "SyslogFacility", Refuse(Logging)), // auth, authpriv: read as security records
    (Service, "SyslogIdentifier", Refuse(Logging)),
    (Service, "SyslogLevel", Refuse(Logging)),
    (Service, "SyslogLevelPrefix", Refuse(Logging)),
    (Service, "SystemCallArchitectures", Refuse(Sandbox)),
    (Service, "SystemCallErrorNumber", Refuse(Sandbox)),
    (Service, "SystemCallFilter", Refuse(Sandbox)),
    (Service, "SystemCallLog", Refuse(Sandbox)),
    (Service, "TTYColumns", Refuse(Devices)),
    (Service, "TTYPath", Refuse(Devices)), // default /dev/console; TTY*= act on it
    (Service, "TTYReset", Refuse(Devices)),
    (Service, "TTYRows", Refuse(Devices)),
    (Service, "TTYVHangup", Refuse(Devices)),
    (Service, "TTYVTDisallocate", Refuse(Devices)),
    (Service, "TasksAccounting", Pass),
    (Service, "TasksMax", Refuse(Resources)), // above DefaultTasksMax too: only its own tasks
    (Service, "TemporaryFileSystem", Refuse(Paths)),
    (Service, "TimeoutAbortSec", Refuse(Control)),
    (Service, "TimeoutCleanSec", Pass),
    (Service, "TimeoutSec", Pass),
    (Service, "TimeoutStartFailureMode", Refuse(Control)),
    (Service, "TimeoutStartSec", Pass),
    (Service, "TimeoutStopFailureMode", Refuse(Control)),
    (Service, "TimeoutStopSec", Pass),
    (Service, "TimerSlackNSec", Pass),
    (Service, "Type", Refuse(Exec)),
    (Service, "UMask", Refuse(Paths)), // who else may read the files it creates
    (Service, "USBFunctionDescriptors", Refuse(Devices)),
    (Service, "USBFunctionStrings", Refuse(Devices)),
    (Service, "UnsetEnvironment", Refuse(Environment)),
    (Service, "User", Refuse(Identity)),
    (Service, "UserNamespacePath", Refuse(Namespaces)),
    (Service, "UtmpIdentifier", Refuse(Logging)), // the node's login records
    (Service, "UtmpMode", Refuse(Logging)),
    (Service, "WatchdogSec", Refuse(Control)),
    (Service, "WatchdogSignal", Refuse(Control)),
    (Service, "WorkingDirectory", Refuse(Paths)),
    (Install, "Alias", Refuse(OtherUnits)), // a link in /etc shadows a node unit of that name
    (Install, "Also", Refuse(OtherUnits)),
    (Install, "DefaultInstance", Refuse(OtherUnits)),
    (Install, "RequiredBy", Refuse(OtherUnits)),
    (Install, "UpheldBy", Refuse(OtherUnits)),
    (Install, "WantedBy", Refuse(OtherUnits)),
];

/// The verdict on `key` in `section`; `None` when none of systemd 252,
/// 257, 262 knows it there (systemd's keys are case-sensitive).
pub fn verdict(section: Section, key: &str) -> Option<Verdict> {
    KEYS.binary_search_by(|&(s, k, _)| (s, k).cmp(&(section, key)))
        .ok()
        .map(|i| KEYS[i].2)
}

/// Keys systemd 252 does not know: first in 257's dump.
#[rustfmt::skip]
const NEW_IN_257: &[(Section, &str)] = &[
    (Install, "UpheldBy"),
    (Service, "BindLogSockets"),
    (Service, "CoredumpReceive"),
    (Service, "DefaultStartupMemoryLow"),
    (Service, "DelegateSubgroup"),
    (Service, "ExtensionImagePolicy"),
    (Service, "FileDescriptorStorePreserve"),
    (Service, "ImportCredential"),
    (Service, "LogFilterPatterns"),
    (Service, "ManagedOOMMemoryPressureDurationSec"),
    (Service, "MemoryKSM"),
    (Service, "MemoryPressureThresholdSec"),
    (Service, "MemoryPressureWatch"),
    (Service, "MemoryZSwapMax"),
    (Service, "MemoryZSwapWriteback"),
    (Service, "MountImagePolicy"),
    (Service, "NFTSet"),
    (Service, "OpenFile"),
    (Service, "PrivatePIDs"),
    (Service, "ReloadSignal"),
    (Service, "RestartMaxDelaySec"),
    (Service, "RestartMode"),
    (Service, "RestartSteps"),
    (Service, "RootEphemeral"),
    (Service, "RootImagePolicy"),
    (Service, "SetLoginEnvironment"),
    (Service, "StartupMemoryHigh"),
    (Service, "StartupMemoryLow"),
    (Service, "StartupMemoryMax"),
    (Service, "StartupMemorySwapMax"),
    (Service, "StartupMemoryZSwapMax"),
    (Unit, "SurviveFinalKillSignal"),
    (Unit, "WantsMountsFor"),
];

/// Keys first in 262's dump.
#[rustfmt::skip]
const NEW_IN_262: &[(Section, &str)] = &[
    (Service, "BPFDelegateAttachments"),
    (Service, "BPFDelegateCommands"),
    (Service, "BPFDelegateMaps"),
    (Service, "BPFDelegatePrograms"),
    (Service, "BindNetworkInterface"),
    (Service, "CPUPressureThresholdSec"),
    (Service, "CPUPressureWatch"),
    (Service, "CPUSetPartition"),
    (Service, "CacheDirectoryAccounting"),
    (Service, "CacheDirectoryQuota"),
    (Service, "DelegateNamespaces"),
    (Service, "ExecReloadPost"),
    (Service, "IOPressureThresholdSec"),
    (Service, "IOPressureWatch"),
    (Service, "LUOSession"),
    (Service, "LogsDirectoryAccounting"),
    (Service, "LogsDirectoryQuota"),
    (Service, "MemoryTHP"),
    (Service, "OOMRules"),
    (Service, "PrivateBPF"),
    (Service, "RefreshOnReload"),
    (Service, "RestartRandomizedDelaySec"),
    (Service, "RootMStack"),
    (Service, "StateDirectoryAccounting"),
    (Service, "StateDirectoryQuota"),
    (Service, "UserNamespacePath"),
    (Unit, "AssertFraction"),
    (Unit, "AssertKernelModuleLoaded"),
    (Unit, "AssertMachineTag"),
    (Unit, "AssertPathIsSocket"),
    (Unit, "AssertVersion"),
    (Unit, "ConditionFraction"),
    (Unit, "ConditionKernelModuleLoaded"),
    (Unit, "ConditionMachineTag"),
    (Unit, "ConditionPathIsSocket"),
    (Unit, "ConditionVersion"),
];

/// The first release whose manager knows `key` in `section` (of those the
/// table classifies: 252, 257, 262); tests/all/node_map.rs checks both lists
/// against the real dumps.
pub fn since(section: Section, key: &str) -> u32 {
    let listed = |list: &[(Section, &str)]| list.iter().any(|&(s, k)| s == section && k == key);
    if listed(NEW_IN_262) {
        262
    } else if listed(NEW_IN_257) {
        257
    } else {
        252
    }
}

/// Whether any section knows `key` (for `--allow-key KEY`, which names a
/// key in whichever section the manifest sets it).
pub fn known(key: &str) -> Option<Verdict> {
    [Section::Unit, Section::Service, Section::Install]
        .into_iter()
        .find_map(|s| verdict(s, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_unique() {
        for w in KEYS.windows(2) {
            let (a, b) = ((w[0].0, w[0].1), (w[1].0, w[1].1));
            assert!(a < b, "{a:?} must come before {b:?}");
        }
    }

    #[test]
    fn every_key_is_found_and_nothing_else() {
        for &(s, k, v) in KEYS {
            assert_eq!(verdict(s, k), Some(v), "{s:?} {k}");
        }
        assert_eq!(verdict(Service, "user"), None);
        assert_eq!(verdict(Service, "Description"), None);
        assert_eq!(verdict(Unit, "User"), None);
        assert_eq!(verdict(Service, ""), None);
        assert_eq!(known("User"), Some(Refuse(Identity)));
        assert_eq!(known("WantedBy"), Some(Refuse(OtherUnits)));
        assert_eq!(known("user"), None);
    }

    #[test]
    fn keys_are_systemd_spelled() {
        for &(s, k, _) in KEYS {
            assert!(
                k.starts_with(|c: char| c.is_ascii_uppercase())
                    && k.chars().all(|c| c.is_ascii_alphanumeric()),
                "{s:?} {k:?}"
            );
        }
    }

    #[test]
    fn the_owners_examples() {
        let refused = |s, k, r| assert_eq!(verdict(s, k), Some(Refuse(r)), "{s:?} {k}");
        refused(Service, "User", Identity);
        refused(Service, "DynamicUser", Identity);
        refused(Service, "AmbientCapabilities", Privileges);
        refused(Service, "LoadCredential", Credentials);
        refused(Service, "StandardOutput", Paths);
        refused(Service, "ExecStartPre", Exec);
        refused(Service, "Type", Exec);
        refused(Service, "UnsetEnvironment", Environment);
        refused(Service, "DeviceAllow", Devices);
        refused(Service, "SystemCallFilter", Sandbox);
        refused(Service, "IPAddressDeny", Network);
        refused(Unit, "Wants", OtherUnits);
        refused(Service, "Nice", Scheduling);
        refused(Unit, "FailureAction", Power);
        refused(Service, "FailureAction", Power);
        let passes = [
            (Unit, "Documentation"),
            (Unit, "ConditionPathExists"),
            (Service, "TimeoutStopSec"),
            (Service, "CPUQuota"),
            (Service, "TimeoutStartSec"),
            (Service, "RuntimeMaxSec"),
            (Service, "LogLevelMax"),
        ];
        // What widens it past wasmunit's own, or overrides a typed key
        // (found by the hostile review of the first table).
        for (s, k, r) in [
            (Unit, "Description", Typed),
            (Unit, "After", Typed),
            (Unit, "StartLimitBurst", Control),
            (Service, "Restart", Typed),
            (Service, "MemoryMax", Resources),
            (Service, "TasksMax", Resources),
            (Service, "LimitNOFILE", Resources),
            (Service, "CPUWeight", Scheduling),
            (Service, "KillSignal", Control),
            (Service, "SyslogIdentifier", Logging),
            (Service, "LogExtraFields", Logging),
        ] {
            assert_eq!(verdict(s, k), Some(Refuse(r)), "{s:?} {k}");
        }
        for (s, k) in passes {
            assert_eq!(verdict(s, k), Some(Pass), "{s:?} {k}");
        }
    }

    #[test]
    fn all_of_install_is_refused() {
        for &(s, k, v) in KEYS.iter().filter(|e| e.0 == Install) {
            assert_eq!(v, Refuse(OtherUnits), "{s:?} {k}");
        }
    }

    #[test]
    fn conditions_and_asserts_pass() {
        let n = KEYS
            .iter()
            .filter(|e| e.0 == Unit && (e.1.starts_with("Condition") || e.1.starts_with("Assert")))
            .inspect(|e| assert_eq!(e.2, Pass, "{}", e.1))
            .count();
        assert!(n > 60, "{n}");
    }
}
