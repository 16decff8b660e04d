namespace UserKeys.Api.Commands;

/// <summary>Exit codes the deploy pipeline can rely on (documented in the README and in <c>--help</c>).</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int MigrationFailed = 1;
    public const int Usage = 2;
    public const int Unavailable = 3;
    public const int Refused = 4;
}
