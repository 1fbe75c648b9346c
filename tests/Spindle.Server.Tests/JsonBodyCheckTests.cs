using System.Text;
using System.Text.Json;
using Spindle.Server.Api;

namespace Spindle.Server.Tests;

public sealed class JsonBodyCheckTests
{
    private static JsonBodyCheck.Problem? Check(string json) => JsonBodyCheck.Check(Encoding.UTF8.GetBytes(json));

    private static string Nested(int levels) => string.Concat(Enumerable.Repeat("{\"n\":", levels - 1)) + "{}" + new string('}', levels - 1);

    [Fact]
    public void Check_FieldExactlyAtTheLimit_Passes()
    {
        Assert.Null(Check($$"""{"input": {{Nested(64)}}, "other": [[1], {"a": [2]}]}"""));
    }

    [Fact]
    public void Check_FieldOneLevelTooDeep_NamesTheTopLevelField()
    {
        Assert.Equal(new JsonBodyCheck.Problem("input", "nested deeper than 64 levels"), Check($$"""{"a": 1, "input": {{Nested(65)}}}"""));
        Assert.Equal("data", Check($$"""{"data": [{{Nested(64)}}]}""")!.Field);
    }

    [Fact]
    public void Check_BodyThatIsNotAnObject_CountsItsOwnLevels()
    {
        Assert.Null(Check(Nested(64).Replace("{}", "[]", StringComparison.Ordinal)));
        Assert.Equal("body", Check("[" + Nested(64) + "]")!.Field);
    }

    [Fact]
    public void Check_RepeatedKey_NamesItsPath()
    {
        Assert.Equal(new JsonBodyCheck.Problem("input.list[1].k", "duplicate key 'k'"),
            Check("""{"input": {"list": [{"k": 1}, {"j": {"k": 1}, "k": 1, "k": 2}]}}"""));
        Assert.Equal("worker_id", Check("""{"worker_id": "a", "worker_id": "a"}""")!.Field);
        // The same key in different objects is no repetition.
        Assert.Null(Check("""{"a": {"k": 1}, "b": {"k": 1}, "k": [{"k": 1}, {"k": 2}]}"""));
    }

    [Fact]
    public void Check_MalformedJson_Throws()
    {
        Assert.ThrowsAny<JsonException>(() => Check("""{"a": }"""));
    }
}
