namespace Spindle.Core.Costs;

/// <summary>A catalog file that cannot be read; the message names the file and the offending entry.</summary>
public sealed class ModelCatalogException : Exception
{
    public ModelCatalogException()
    {
    }

    public ModelCatalogException(string message)
        : base(message)
    {
    }

    public ModelCatalogException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
