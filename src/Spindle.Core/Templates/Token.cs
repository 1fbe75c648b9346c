namespace Spindle.Core.Templates;

internal enum TokenKind
{
    Text,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

/// <summary>One lexed token. <see cref="Start"/> and <see cref="Stop"/> index the source so that error messages
/// and undefined names can quote the expression as the author wrote it.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Start, int Stop, object? Value = null)
{
    public bool IsOperator(string op) => Kind == TokenKind.Operator && Text == op;

    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;
}
