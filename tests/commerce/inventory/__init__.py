"""tests of livecart.commerce.inventory"""
