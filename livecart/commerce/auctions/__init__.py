"""Live auctions and giveaways: one unit of a lineup sku set aside, bids or entries
decided by scripts against Redis TIME, and the winner charged and given an order."""
