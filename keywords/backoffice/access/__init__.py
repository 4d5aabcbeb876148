"""Access: provision the service for a customer once their invoice is paid in full."""
