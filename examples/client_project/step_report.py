"""Summarize a record's flow runs from the Runtype API: which steps failed and what the AI
steps cost. This is the code under test of the example suite, and nothing in it refers to
the mock.
"""

from decimal import Decimal

PAGE_SIZE = 100


def iter_step_results(client, record_id, **filters):
    """Yield every step result of a record, page after page.

    :param client: a ``runtype.RuntypeClient``.
    :param filters: the endpoint's filters, e.g. ``status="failed"`` or ``flow_id="flow_1"``.
    """
    offset = 0
    while True:
        page = client.api.records.get_record_step_results(
            record_id, limit=str(PAGE_SIZE), offset=str(offset), **filters
        )
        yield from page.data
        if not page.pagination.has_more:
            return
        offset += page.pagination.returned


def failed_step_names(client, record_id):
    """Return the names of the record's failed steps, newest first."""
    return [step.step_name for step in iter_step_results(client, record_id, status="failed")]


def total_cost(client, record_id):
    """Return the summed ``estimatedCost`` of the record's steps as a Decimal; null costs count as 0."""
    return sum(
        (Decimal(step.estimated_cost) for step in iter_step_results(client, record_id) if step.estimated_cost),
        Decimal(0),
    )
