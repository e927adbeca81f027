"""q3.settings: the settings of the profile that differ from the course's, for the text's table.

A step of its own, declared with the table as its parameters, so that the table reaches the report
through the cache like any result while no training step's key holds a setting only it shows.
"""

from __future__ import annotations


def run(ctx) -> dict:
    return {"differences": ctx.params["differences"]}
