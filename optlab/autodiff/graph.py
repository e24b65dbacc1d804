"""Graph pictures: Graphviz dot text for a computational graph (placeholder until drawn)."""
def to_dot(y, verbose=False):
    raise NotImplementedError
def plot_graph(y, path="graph.png", verbose=False):
    raise NotImplementedError
