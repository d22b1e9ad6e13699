def render(results, quick):
    pass
