namespace UserKeys.Data;

/// <summary>
/// Npgsql settings the service applies unless its connection string says otherwise (README, Operations); the bench's
/// bare reference program applies the same, so that the two differ only in what the service adds.
/// </summary>
public static class ConnectionDefaults
{
    /// <summary>Every statement comes from a fixed catalog: preparing them saves PostgreSQL a parse and plan per execution.</summary>
    public const int MaxAutoPrepare = 64;

    public const int AutoPrepareMinUsages = 2;

    /// <summary>
    /// Twice the cores this process may use, at least 4 and at most 50: the size PostgreSQL's own guidance gives
    /// (about twice the database's cores), for the common small deployment where PostgreSQL shares the host or
    /// is its size. PostgreSQL runs a process per connection; more busy connections than that only queue on
    /// its cores, where every statement waits, not just the newest. Waiting for a pooled connection instead (at
    /// most the pool's Timeout) kept the throughput and cut the tail: on 2 shared cores with 16 clients, 4
    /// connections against 50 read p99 4 ms against 17-870 ms for a page of users, 9-14 ms against 24-200 ms with
    /// their keys (bench/RESULTS.md). Set Maximum Pool Size when PostgreSQL runs elsewhere (README).
    /// </summary>
    public static int MaxPoolSize => Math.Clamp(2 * Environment.ProcessorCount, 4, 50);
}
