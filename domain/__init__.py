"""The clinical heart of Careplan: the CarePlan aggregate, its events and rules.

Pure by design: imports only ``eventsourcing.domain`` and the standard library, so
clinical behaviour can be tested without a database, a web server or a broker.
"""
