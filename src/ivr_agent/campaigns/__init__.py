"""Regular callback campaigns (S5: 每月1号、15号定期回访): a customer list dialled on set days.

A campaign (``store``) is a list of customers (``customers_file``: CSV or XLSX) and the days
of the month it runs on; the scheduler (``scheduler``) creates each run's callbacks, which
the callbacks feature's dialer then dials like any other; ``queries`` reads campaigns back
with their figures. Other parts use what is exported here; app.py and cli/ compose it.
"""

from ivr_agent.campaigns.customers_file import read_customer_file
from ivr_agent.campaigns.queries import campaign_customers, get_campaign, list_campaigns
from ivr_agent.campaigns.scheduler import CampaignScheduler, create_due_runs
from ivr_agent.campaigns.store import (
    CampaignExists,
    CampaignNotFound,
    NewCampaign,
    RunResult,
    create_campaign,
    create_run,
    set_active,
)

__all__ = [
    "CampaignExists",
    "CampaignNotFound",
    "CampaignScheduler",
    "NewCampaign",
    "RunResult",
    "campaign_customers",
    "create_campaign",
    "create_due_runs",
    "create_run",
    "get_campaign",
    "list_campaigns",
    "read_customer_file",
    "set_active",
]
