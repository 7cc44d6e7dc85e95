using System.Collections;

namespace ConnDoctor.Analysis;

/// <summary>
/// Groups by key, in the order their first member came (the order a table lists them, so that findings come out in a
/// stable order), built in one pass. The last group asked is kept at hand: a socket table lists the sockets of one
/// group mostly together (a pool's connections, one host's ports), so most asks cost one comparison, not a lookup.
/// A group may be a value (a count: <c>groups.For(key)++</c>) or an object made by the factory on its first member.
/// </summary>
public sealed class OrderedGroups<TKey, TGroup>(Func<TKey, TGroup>? create = null) : IEnumerable<(TKey Key, TGroup Group)>
    where TKey : notnull
{
    private readonly Dictionary<TKey, int> _at = new();
    private TKey[] _keys = new TKey[4];
    private TGroup[] _groups = new TGroup[4];
    private int _last = -1;

    public int Count { get; private set; }

    /// <summary>The group of this key, made when the key comes first; a reference valid until the next new key.</summary>
    public ref TGroup For(TKey key)
    {
        if (_last >= 0 && EqualityComparer<TKey>.Default.Equals(_keys[_last], key)) return ref _groups[_last];
        if (!_at.TryGetValue(key, out int i))
        {
            i = Count++;
            if (i == _keys.Length)
            {
                Array.Resize(ref _keys, i * 2);
                Array.Resize(ref _groups, i * 2);
            }
            _keys[i] = key;
            _groups[i] = create != null ? create(key) : default!;
            _at[key] = i;
        }
        _last = i;
        return ref _groups[i];
    }

    public bool TryGetValue(TKey key, out TGroup group)
    {
        if (_at.TryGetValue(key, out int i)) { group = _groups[i]; return true; }
        group = default!;
        return false;
    }

    public IEnumerator<(TKey Key, TGroup Group)> GetEnumerator()
    {
        for (int i = 0; i < Count; i++) yield return (_keys[i], _groups[i]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
