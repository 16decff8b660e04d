using UserKeys.Data.Users;
using UserKeys.Testing;

namespace UserKeys.Data.Tests;

/// <summary>Paging needs a table whose every row it knows: each test here makes its own database.</summary>
public sealed class UserPagingTests
{
    /// <summary>Inserts <paramref name="groups"/> × <paramref name="perGroup"/> users; each group in one
    /// transaction, so the rows of a group share one created_at (now() is the transaction's start).</summary>
    private static async Task<List<UserRow>> Seed(UnitOfWorkFactory units, int groups, int perGroup)
    {
        var rows = new List<UserRow>();
        for (var group = 0; group < groups; group++)
        {
            rows.AddRange(await units.RunAsync(async (unit, cancellationToken) =>
            {
                var created = new List<UserRow>();
                for (var i = 0; i < perGroup; i++)
                {
                    created.Add(await unit.Users.CreateAsync(new NewUser(Unique.Email($"g{group}i{i}"), null, Roles.Member), cancellationToken));
                }

                return created;
            }, CancellationToken.None));
        }

        return rows;
    }

    private static List<long> ListingOrder(IEnumerable<UserRow> rows) =>
        rows.OrderByDescending(row => row.CreatedAt).ThenByDescending(row => row.Id).Select(row => row.Id).ToList();

    [Fact]
    public async Task Keyset_paging_sees_every_row_once_in_exact_order_when_many_rows_share_created_at()
    {
        await using var database = await PostgresServer.CreateMigratedDatabaseAsync();
        var units = new UnitOfWorkFactory(database.DataSource);
        var seeded = await Seed(units, groups: 6, perGroup: 50);
        Assert.Equal(6, seeded.Select(row => row.CreatedAt).Distinct().Count());

        const int pageSize = 7; // not a divisor of a group: pages straddle created_at ties
        var seen = new List<long>();
        UserPosition? after = null;
        var pages = 0;
        while (true)
        {
            var page = await units.ReadAsync((unit, cancellationToken) => after is { } position
                ? unit.Users.ListPageAfterAsync(position, pageSize, cancellationToken)
                : unit.Users.ListFirstPageAsync(pageSize, cancellationToken), CancellationToken.None);
            if (page.Count == 0)
            {
                break;
            }

            Assert.True(page.Count <= pageSize);
            pages++;
            seen.AddRange(page.Select(row => row.Id));
            after = new UserPosition(page[^1].CreatedAt, page[^1].Id);
        }

        Assert.Equal(ListingOrder(seeded), seen);
        Assert.Equal((300 + pageSize - 1) / pageSize, pages);
    }

    [Fact]
    public async Task Offset_paging_and_count_agree_with_the_keyset_order()
    {
        await using var database = await PostgresServer.CreateMigratedDatabaseAsync();
        var units = new UnitOfWorkFactory(database.DataSource);
        var seeded = await Seed(units, groups: 3, perGroup: 10);

        var total = await units.ReadAsync((unit, cancellationToken) => unit.Users.CountAsync(cancellationToken), CancellationToken.None);
        var seen = new List<long>();
        for (var offset = 0; offset < 40; offset += 4)
        {
            var page = await units.ReadAsync((unit, cancellationToken) => unit.Users.ListPageByOffsetAsync(4, offset, cancellationToken), CancellationToken.None);
            seen.AddRange(page.Select(row => row.Id));
        }

        Assert.Equal(30, total);
        Assert.Equal(ListingOrder(seeded), seen);
    }

    [Fact]
    public async Task The_first_page_is_the_newest_rows()
    {
        await using var database = await PostgresServer.CreateMigratedDatabaseAsync();
        var units = new UnitOfWorkFactory(database.DataSource);
        var seeded = await Seed(units, groups: 2, perGroup: 5);

        var page = await units.ReadAsync((unit, cancellationToken) => unit.Users.ListFirstPageAsync(3, cancellationToken), CancellationToken.None);

        Assert.Equal(ListingOrder(seeded).Take(3), page.Select(row => row.Id));
    }

    [Fact]
    public async Task The_with_keys_forms_return_each_page_user_once_with_all_its_keys_in_order()
    {
        await using var database = await PostgresServer.CreateMigratedDatabaseAsync();
        var units = new UnitOfWorkFactory(database.DataSource);
        var seeded = await Seed(units, groups: 3, perGroup: 7);
        var keysOf = new Dictionary<long, List<long>>();
        foreach (var (user, index) in seeded.Select((user, index) => (user, index)))
        {
            keysOf[user.Id] = [];
            for (var k = 0; k < index % 3; k++) // 0, 1 or 2 keys
            {
                var key = (await units.RunAsync((unit, ct) => unit.Keys.CreateAsync(
                    new Keys.NewApiKey(user.Id, $"k{k}", "uk_test", Unique.TokenHash(), null, Unique.AllScopes), Unique.MaxKeys, ct), CancellationToken.None))!;
                keysOf[user.Id].Add(key.Id);
            }
        }

        var order = ListingOrder(seeded);
        var walked = new List<UserWithKeys>();
        UserPosition? after = null;
        while (true)
        {
            var page = await units.ReadAsync((unit, ct) => after is { } position
                ? unit.Users.ListPageAfterWithKeysAsync(position, 4, ct)
                : unit.Users.ListFirstPageWithKeysAsync(4, ct), CancellationToken.None);
            if (page.Count == 0)
            {
                break;
            }

            Assert.True(page.Count <= 4); // the limit counts users, not key rows
            walked.AddRange(page);
            after = new UserPosition(page[^1].User.CreatedAt, page[^1].User.Id);
        }

        Assert.Equal(order, walked.Select(entry => entry.User.Id));
        Assert.All(walked, entry => Assert.Equal(keysOf[entry.User.Id], entry.Keys.Select(key => key.Id)));
        Assert.All(walked, entry => Assert.All(entry.Keys, key => Assert.Equal(entry.User.Id, key.UserId)));

        var byOffset = await units.ReadAsync((unit, ct) => unit.Users.ListPageByOffsetWithKeysAsync(5, 3, ct), CancellationToken.None);
        Assert.Equal(order.Skip(3).Take(5), byOffset.Select(entry => entry.User.Id));
        Assert.All(byOffset, entry => Assert.Equal(keysOf[entry.User.Id], entry.Keys.Select(key => key.Id)));

        var withTwo = seeded[2];
        var found = await units.ReadAsync((unit, ct) => unit.Users.FindByEmailWithKeysAsync(withTwo.Email.ToUpperInvariant(), ct), CancellationToken.None);
        Assert.NotNull(found);
        Assert.Equal(withTwo, found.User);
        Assert.Equal(keysOf[withTwo.Id], found.Keys.Select(key => key.Id));
        Assert.Null(await units.ReadAsync((unit, ct) => unit.Users.FindByEmailWithKeysAsync(Unique.Email(), ct), CancellationToken.None));
    }
}
