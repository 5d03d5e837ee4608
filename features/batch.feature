Feature: Batch processing
  Events are processed in parallel, five at a time by default.

  Scenario: Ten events are processed in parallel, five at a time
    Given an analysis that takes a moment for each event
    And 10 users who each generated a cover letter
    When the flywheel processes the queue
    Then all 10 events are processed
    And exactly 5 events were analysed at the same time
