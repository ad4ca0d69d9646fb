"""Writers of the generated pages under ``docs/results/`` (tables, plots, experiments).

Only :mod:`edgevision.cli` imports this package; a module here may import any library
package, and no library package imports from here.
"""
