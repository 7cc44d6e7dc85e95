namespace ConnDoctor.Agent;

public enum MetricType { Gauge, Counter }

/// <summary>One sample of a family: its label values, in the order of the family's label names, and its value.</summary>
public readonly record struct MetricSample(string[] Values, double Value);

/// <summary>
/// A metric family as the agent exposes it: name (counters end in _total), help, type, label names (every sample has
/// every label, an empty string when it does not apply) and samples. Built afresh for every collection.
/// </summary>
public sealed record MetricFamily(string Name, string Help, MetricType Type, string[] LabelNames, IReadOnlyList<MetricSample> Samples);
