"""What the two SQL stores share: tables, engines, the batch's writes, the lease fence."""
