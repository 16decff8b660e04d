namespace UserKeys.Api.Commands;

/// <summary>
/// The verb and the flags of one invocation. Flags the verb knows are taken out; everything else
/// (e.g. <c>--urls</c>, <c>--connection</c>, <c>--Logging:LogLevel:Default=Debug</c>) goes on to configuration.
/// </summary>
internal sealed class CommandLine
{
    public const string Usage = """
        Usage:
          UserKeys.Api [serve] [--urls URL]              serve the HTTP API
          UserKeys.Api migrate                           apply pending migrations
          UserKeys.Api migrate --dry-run                 list the pending ones; change nothing
          UserKeys.Api migrate --status                  applied scripts (with when), pending ones, changed ones
          UserKeys.Api migrate --script FILE             write the SQL a run would execute, in order, for review
          UserKeys.Api migrate --repair-checksums        accept the current content of changed applied scripts, then migrate
          UserKeys.Api migrate --grant-to ROLE           then give ROLE what the serving service needs (rows, not schema)
          UserKeys.Api bootstrap-admin --email E [--name N] [--if-missing] [--promote]
                                                         create that admin if missing, else issue it a new key;
                                                         prints only the token on stdout (--if-missing: nothing,
                                                         and no new key, when that admin already exists); a member
                                                         with that email is refused (exit 4) unless --promote
          UserKeys.Api audit-purge                       delete audit events older than UserKeys__AuditRetentionDays
                                                         (as the schema's owner: the purge is the owner's alone)
        Options for every verb:
          --connection CS   the PostgreSQL connection string (else ConnectionStrings__UserKeys)
        Exit codes: 0 success; 1 a migration script failed (rolled back); 2 usage or configuration error;
                    3 the database could not be reached, or is not migrated; 4 refused: an applied
                    script changed, the database is newer than this build (migrate), or the email is a
                    member's and --promote was not given (bootstrap-admin), not the schema's owner or another
                    purge running (audit-purge).
        """;

    private CommandLine(string verb, IReadOnlyDictionary<string, string?> flags, string[] configurationArgs)
    {
        Verb = verb;
        Flags = flags;
        ConfigurationArgs = configurationArgs;
    }

    public string Verb { get; }

    public IReadOnlyDictionary<string, string?> Flags { get; }

    public string[] ConfigurationArgs { get; }

    /// <summary>Parses <paramref name="args"/>; null (with <paramref name="error"/>) when they make no sense.</summary>
    public static CommandLine? Parse(string[] args, out string? error)
    {
        error = null;
        var verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "serve";
        var rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
        (string Name, bool TakesValue)[] known = verb switch
        {
            "serve" => [],
            "migrate" => [("dry-run", false), ("status", false), ("script", true), ("repair-checksums", false), ("grant-to", true)],
            "bootstrap-admin" => [("email", true), ("name", true), ("if-missing", false), ("promote", false)],
            "audit-purge" => [],
            "help" or "--help" or "-h" => [],
            _ => [],
        };
        if (verb is not ("serve" or "migrate" or "bootstrap-admin" or "audit-purge" or "help" or "--help" or "-h"))
        {
            error = $"unknown command '{verb}'";
            return null;
        }

        var flags = new Dictionary<string, string?>(StringComparer.Ordinal);
        var configuration = new List<string>();
        for (var i = 0; i < rest.Length; i++)
        {
            var arg = rest[i];
            if (arg is "--help" or "-h")
            {
                return new CommandLine("help", flags, []);
            }

            var (name, inlineValue) = arg.StartsWith("--", StringComparison.Ordinal) && arg.IndexOf('=', StringComparison.Ordinal) is var eq and > 0
                ? (arg[2..eq], arg[(eq + 1)..])
                : (arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..] : arg, null);
            var match = Array.FindIndex(known, k => k.Name == name);
            if (match < 0)
            {
                if (!arg.StartsWith("--", StringComparison.Ordinal))
                {
                    error = $"unexpected argument '{arg}'";
                    return null;
                }

                // Configuration switch: --key value or --key=value.
                configuration.Add(arg);
                if (inlineValue is null && i + 1 < rest.Length)
                {
                    configuration.Add(rest[++i]);
                }

                continue;
            }

            if (known[match].TakesValue)
            {
                var value = inlineValue ?? (i + 1 < rest.Length ? rest[++i] : null);
                if (string.IsNullOrWhiteSpace(value))
                {
                    error = $"--{name} needs a value";
                    return null;
                }

                flags[name] = value;
            }
            else
            {
                flags[name] = null;
            }
        }

        return new CommandLine(verb is "--help" or "-h" ? "help" : verb, flags, [.. configuration]);
    }

    public bool Has(string flag) => Flags.ContainsKey(flag);

    public string? Value(string flag) => Flags.TryGetValue(flag, out var value) ? value : null;
}
