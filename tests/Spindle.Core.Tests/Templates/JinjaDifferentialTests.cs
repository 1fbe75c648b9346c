using System.Text.Json.Nodes;
using Spindle.Core.Templates;

namespace Spindle.Core.Tests.Templates;

/// <summary>
/// Cases whose expected results were computed by Python's jinja2 (tools/jinja-cases/generate.py), adjusted to
/// the differences the spec documents. Regenerate jinja_cases.json after adding cases to the script.
/// </summary>
public sealed class JinjaDifferentialTests
{
    private const string CasesPath = "tests/Spindle.Core.Tests/Templates/jinja_cases.json";

    private static readonly Lazy<JsonObject> Document = new(Load);

    public static TheoryData<int, string> Cases()
    {
        var data = new TheoryData<int, string>();
        var cases = Document.Value["cases"]!.AsArray();
        for (var i = 0; i < cases.Count; i++) data.Add(i, cases[i]!["template"]!.GetValue<string>());
        return data;
    }

    [Fact]
    public void Cases_File_HoldsAtLeast150Cases()
    {
        Assert.True(Document.Value["cases"]!.AsArray().Count >= 150);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Resolve_JinjaCase_MatchesJinja2(int index, string template)
    {
        var testCase = Document.Value["cases"]![index]!.AsObject();
        var context = (testCase["context"] ?? Document.Value["context"])!.AsObject();
        // Scope values stay attached to the parsed document: resolving must never try to re-parent them.
        var scope = context.ToDictionary(pair => pair.Key, pair => pair.Value);

        if (testCase.ContainsKey("error"))
        {
            Assert.Throws<TemplateException>(() => TemplateEvaluator.Resolve(template, scope));
            return;
        }
        var actual = TemplateEvaluator.Resolve(template, scope);
        Assert.Equal(JsonCanonical.Write(testCase["expected"]), JsonCanonical.Write(actual));
    }

    private static JsonObject Load()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory != null; directory = directory.Parent)
        {
            var path = Path.Combine(directory.FullName, CasesPath);
            if (File.Exists(path)) return JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        }
        throw new FileNotFoundException($"{CasesPath} was not found above {AppContext.BaseDirectory}");
    }
}
