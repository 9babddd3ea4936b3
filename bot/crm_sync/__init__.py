"""Live CRM sync: read HubSpot or Salesforce through their APIs into the knowledge base.

A :class:`~bot.crm_sync.source.CrmSource` reads one CRM (pages of changed records, their
associations, owners and teams, what was deleted) and maps each record onto Closer's CRM columns;
:mod:`bot.crm_sync.engine` feeds those rows through the same builder and ingest as a CSV export
(``bot.knowledge.crm.read_rows`` → ``bot.knowledge.ingest``), with a resumable cursor per object
stream in the state database.
"""
