using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Render;

/// <summary>What `zklog` shows: the log's analysis and the findings the rules drew from it.</summary>
public sealed record ZkLogReport(ZkLogEvidence Log, DiagnoseReport Diagnosis);
