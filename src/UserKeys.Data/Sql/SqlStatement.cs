namespace UserKeys.Data.Sql;

/// <summary>One statement from <c>sql/queries</c>: its name (the file's path without <c>.sql</c>) and its text.</summary>
public sealed record SqlStatement(string Name, string Text)
{
    public override string ToString() => Name;
}
