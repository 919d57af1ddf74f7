"""Write-side stores: the SQL each handler needs, behind names that say what it does."""
